/** The source policy is the org store's (SCIM pushes and pull runs both reconcile by it). */
export * from '../org/source-policy'
