/**
 * Request bodies shaped like what Microsoft Entra ID and Okta send (their provisioning docs show
 * these shapes); the values are made up. Functions, so each test gets its own copy to mutate.
 */
export const CORE_USER = 'urn:ietf:params:scim:schemas:core:2.0:User'
export const CORE_GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group'
export const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'
export const ORGSYNC = 'urn:orgsync:scim:schemas:extension:2.0:User'
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp'

export const MANAGER_ID = '5d2f0c5e-9a3b-4c1e-8f7a-1b2c3d4e5f60'

/** Entra's create: enterprise extension, meta.resourceType, an empty roles array. */
export function entraCreateUser(): Record<string, unknown> {
  return {
    schemas: [CORE_USER, ENTERPRISE],
    externalId: 'c1a4e7f0-2b5d-4e8a-9c3f-6d0b1e2a3f4c',
    userName: 'Ines.Moreau@fabrikam.example',
    active: true,
    displayName: 'Ines Moreau',
    title: 'Store Lead',
    emails: [{ primary: true, type: 'work', value: 'ines.moreau@fabrikam.example' }],
    meta: { resourceType: 'User' },
    name: { formatted: 'Ines Moreau', familyName: 'Moreau', givenName: 'Ines' },
    phoneNumbers: [
      { type: 'work', value: '+33 1 55 00 12 34' },
      { type: 'mobile', value: '+33 6 55 00 98 76' },
    ],
    addresses: [
      {
        type: 'work',
        streetAddress: '12 rue des Lilas',
        locality: 'Lyon',
        region: 'ARA',
        postalCode: '69003',
        country: 'FR',
      },
    ],
    roles: [],
    [ENTERPRISE]: {
      employeeNumber: '20417',
      department: 'Retail',
      costCenter: 'CC-310',
      organization: 'Fabrikam',
      division: 'Stores',
      manager: { value: MANAGER_ID },
    },
  }
}

/** Okta's create: no extension, a password, an empty groups array, locale. */
export function oktaCreateUser(): Record<string, unknown> {
  return {
    schemas: [CORE_USER],
    userName: 'teo.baker@initech.example',
    name: { givenName: 'Teo', familyName: 'Baker' },
    emails: [{ primary: true, value: 'teo.baker@initech.example', type: 'work' }],
    displayName: 'Teo Baker',
    locale: 'en-US',
    externalId: '00u7kq2xw9PLmNbV3d5e',
    groups: [],
    password: 'gH7#qLp2-wz',
    active: true,
  }
}

export function entraCreateGroup(): Record<string, unknown> {
  return {
    schemas: [CORE_GROUP],
    externalId: '9b0e6f1a-3c2d-4e5f-8a7b-0c1d2e3f4a5b',
    displayName: 'Store Leads',
    meta: { resourceType: 'Group' },
    members: [],
  }
}

export function oktaCreateGroup(): Record<string, unknown> {
  return {
    schemas: [CORE_GROUP],
    displayName: 'Engineering',
    members: [
      { value: 'a3f1c2d4-0000-4000-8000-000000000001', display: 'teo.baker@initech.example' },
      { value: 'a3f1c2d4-0000-4000-8000-000000000002', display: 'mo.ali@initech.example' },
    ],
  }
}

export function patchOp(...operations: unknown[]): Record<string, unknown> {
  return { schemas: [PATCH_OP], Operations: operations }
}
