/** SCIM resource schemas: the served documents, write validation, and PATCH for users and groups. */
export {
  CORE_GROUP_URN,
  CORE_USER_URN,
  ENTERPRISE_USER_URN,
  ORGSYNC_USER_URN,
  SCHEMA_URN,
  schemaDocument,
  schemaDocuments,
} from './schema-documents'
export type {
  AttributeDocument,
  AttributeType,
  Mutability,
  Returned,
  SchemaDocument,
  Uniqueness,
} from './schema-documents'
export { scimmyDeclarations } from './scimmy-declarations'
export type { ScimmyDeclarations, ScimmyResourceClass } from './scimmy-declarations'
export { validateGroup, validateUser } from './validate-resource'
export type { ScimGroupDoc, ScimGroupMember, ScimUserDoc } from './validate-resource'
export { PATCH_OP_URN } from './patch-message'
export { patchUser } from './user-patch'
export { MAX_PATCH_MEMBER_VALUES, parseGroupPatch } from './group-patch'
export type { GroupPatchStep } from './group-patch'
