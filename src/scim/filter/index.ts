/** The SCIM filter layer: text → syntax tree → SQL condition, with errors as ScimFilterError (400). */
export { formatAttributePath, formatFilter, formatPatchPath } from './filter-ast'
export type { AttributePath, CompareOperator, ComparisonValue, FilterNode, PatchPath } from './filter-ast'
export { MAX_FILTER_DEPTH, MAX_FILTER_LENGTH, parseFilter, parsePatchPath } from './parse-filter'
export { ScimFilterError } from './scim-filter-error'
export { filterToSql } from './filter-to-sql'
export {
  CORE_GROUP_URN,
  CORE_USER_URN,
  ENTERPRISE_USER_URN,
  attribute,
  column,
  defineResourceSchema,
  groupFilterSchema,
  jsonPath,
  userFilterSchema,
} from './resource-schema'
export type {
  AttributeStorage,
  ColumnType,
  FilterAttribute,
  GroupFilterStorage,
  ResourceFilterSchema,
  ScimAttributeType,
  UserFilterStorage,
} from './resource-schema'
