/**
 * The directory objects the Graph fake holds, in Graph's own property names so that rendering them is a
 * matter of picking properties. `managerId` and `memberIds` are the fake's bookkeeping: Graph exposes
 * those relationships only as `manager@delta` / `members@delta` annotations.
 */

export interface GraphUser {
  id: string
  userPrincipalName: string
  mail?: string | null
  displayName?: string | null
  givenName?: string | null
  surname?: string | null
  department?: string | null
  jobTitle?: string | null
  employeeId?: string | null
  accountEnabled?: boolean
  managerId?: string | null
}

export interface GraphGroup {
  id: string
  displayName: string
  description?: string | null
  memberIds: string[]
}

export interface SeededOrg {
  users: GraphUser[]
  groups: GraphGroup[]
}

/** User properties a delta query may track (the ones the fake models). `manager` is the relationship. */
export const USER_PROPERTIES = [
  'userPrincipalName',
  'mail',
  'displayName',
  'givenName',
  'surname',
  'department',
  'jobTitle',
  'employeeId',
  'accountEnabled',
] as const
export type UserProperty = (typeof USER_PROPERTIES)[number]

/**
 * Properties Graph knows on a user but the fake never sets: selecting them is legal and, per the delta
 * docs ("If the property has never been set before it will not be included"), they are simply absent.
 */
export const UNMODELLED_USER_PROPERTIES = [
  'businessPhones',
  'mobilePhone',
  'officeLocation',
  'preferredLanguage',
  'userType',
  'onPremisesImmutableId',
  'onPremisesSyncEnabled',
  'createdDateTime',
  'companyName',
  'employeeType',
]

/**
 * Without $select Graph returns its default user property set (businessPhones, displayName, givenName,
 * jobTitle, mail, mobilePhone, officeLocation, preferredLanguage, surname, userPrincipalName, id);
 * department, employeeId and accountEnabled are only returned when selected.
 */
export const DEFAULT_USER_SELECTION: readonly UserProperty[] = [
  'displayName',
  'givenName',
  'jobTitle',
  'mail',
  'surname',
  'userPrincipalName',
]

export const GROUP_PROPERTIES = ['displayName', 'description'] as const
export type GroupProperty = (typeof GROUP_PROPERTIES)[number]
export const UNMODELLED_GROUP_PROPERTIES = [
  'mail',
  'mailNickname',
  'groupTypes',
  'securityEnabled',
  'visibility',
]

export const USER_ODATA_TYPE = '#microsoft.graph.user'
