/**
 * What the filter layer needs to know about a SCIM resource type: its attributes with their RFC 7643
 * characteristics (type, multiValued, caseExact, subAttributes) and, per attribute, where the stored
 * resource keeps it (a SQL column of the resource's table, or a path in its jsonb document). Only
 * attributes described here can be filtered on; any other name is a 400 invalidFilter.
 */

export type ScimAttributeType =
  'string' | 'boolean' | 'decimal' | 'integer' | 'dateTime' | 'reference' | 'complex'

/** SQL type of a column, so comparisons cast correctly (a uuid column is compared as text). */
export type ColumnType = 'text' | 'uuid' | 'timestamptz' | 'boolean' | 'numeric'

export type AttributeStorage =
  /** A column of the resource's table (or, for a child-table attribute's sub-attributes, of the child row). */
  | { readonly kind: 'column'; readonly column: string; readonly columnType: ColumnType }
  /**
   * Keys into a jsonb document: from the resource's json column for top-level attributes and for
   * sub-attributes of a virtual parent; from the parent's value (the object, or each array element)
   * for sub-attributes of a JSON-stored complex attribute. An empty path is the value itself.
   */
  | { readonly kind: 'json'; readonly path: readonly string[] }
  /** A complex attribute with no storage of its own (meta): each sub-attribute says where it lives. */
  | { readonly kind: 'virtual' }
  /**
   * A multi-valued complex attribute kept as rows of a child table (e.g. group members, so that one
   * membership change is one row): its sub-attributes are columns of that table.
   */
  | {
      readonly kind: 'childTable'
      readonly table: string
      /** Column of the child table referring to the resource. */
      readonly foreignKey: string
      /** Column of the resource's table it refers to. */
      readonly parentKey: string
    }

export interface FilterAttribute {
  /** Canonical name: the key in the SCIM resource; filters may spell it in any case. */
  readonly name: string
  readonly type: ScimAttributeType
  readonly multiValued: boolean
  /** RFC 7643 §2.2: whether string comparisons respect case. */
  readonly caseExact: boolean
  /** For complex attributes only (RFC 7643: sub-attributes are never complex themselves). */
  readonly subAttributes: readonly FilterAttribute[]
  readonly storage: AttributeStorage
}

/** The attributes of one schema (core or extension) of a resource type. */
export interface SchemaAttributes {
  readonly urn: string
  readonly attributes: readonly FilterAttribute[]
}

export interface ResourceFilterSchema {
  readonly resourceType: string
  /** SQL alias of the resource's table in the query the filter is put into. */
  readonly table: string
  /** The jsonb column of that table holding the resource as stored. */
  readonly jsonColumn: string
  readonly core: SchemaAttributes
  /** Extensions; their attributes sit in the resource under the extension URN (RFC 7643 §3.3). */
  readonly extensions: readonly SchemaAttributes[]
}

export const CORE_USER_URN = 'urn:ietf:params:scim:schemas:core:2.0:User'
export const CORE_GROUP_URN = 'urn:ietf:params:scim:schemas:core:2.0:Group'
export const ENTERPRISE_USER_URN = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'

// ---------------------------------------------------------------------------------------------
// Building descriptions
// ---------------------------------------------------------------------------------------------

export interface AttributeOptions {
  readonly multiValued?: boolean
  /** Defaults to false, as for most SCIM string attributes (RFC 7643 §2.2). */
  readonly caseExact?: boolean
  readonly subAttributes?: readonly FilterAttribute[]
  /** Defaults to the JSON key named like the attribute, relative to where the attribute sits. */
  readonly storage?: AttributeStorage
}

export function attribute(
  name: string,
  type: ScimAttributeType,
  options: AttributeOptions = {},
): FilterAttribute {
  return {
    name,
    type,
    multiValued: options.multiValued ?? false,
    caseExact: options.caseExact ?? false,
    subAttributes: options.subAttributes ?? [],
    storage: options.storage ?? { kind: 'json', path: [name] },
  }
}

export const column = (name: string, columnType: ColumnType): AttributeStorage => ({
  kind: 'column',
  column: name,
  columnType,
})

export const jsonPath = (...path: string[]): AttributeStorage => ({ kind: 'json', path })

/** SQL identifiers we put into queries as they are (quoted); only plain names are accepted. */
const SQL_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/
/** JSON keys go into SQL as string literals; SCIM names and URNs fit this, quotes never do. */
const JSON_KEY = /^[A-Za-z$][A-Za-z0-9_$:.-]*$/

const COLUMN_TYPES: Record<Exclude<ScimAttributeType, 'complex'>, readonly ColumnType[]> = {
  string: ['text', 'uuid'],
  reference: ['text', 'uuid'],
  boolean: ['boolean'],
  decimal: ['numeric'],
  integer: ['numeric'],
  dateTime: ['timestamptz'],
}

/**
 * Checks a description once, where it is made, so the SQL translator can trust every name in it:
 * identifiers are plain, JSON keys safe as literals, storage kinds fit their attribute.
 */
export function defineResourceSchema(schema: ResourceFilterSchema): ResourceFilterSchema {
  const fail = (what: string): never => {
    throw new Error(`resource filter schema ${schema.resourceType}: ${what}`)
  }
  for (const [what, name] of [
    ['table alias', schema.table],
    ['json column', schema.jsonColumn],
  ] as const) {
    if (!SQL_IDENTIFIER.test(name)) fail(`${what} "${name}" is not a plain SQL identifier`)
  }
  const checkStorage = (
    attr: FilterAttribute,
    place: 'top' | 'virtualChild' | 'jsonChild' | 'tableChild',
  ) => {
    const s = attr.storage
    const where = `attribute ${attr.name}`
    if (s.kind === 'column') {
      if (!SQL_IDENTIFIER.test(s.column)) fail(`${where}: column "${s.column}" is not a plain SQL identifier`)
      if (attr.type === 'complex' || attr.multiValued)
        fail(`${where}: only single-valued simple attributes fit a column`)
      else if (!COLUMN_TYPES[attr.type].includes(s.columnType))
        fail(`${where}: ${attr.type} cannot live in ${s.columnType}`)
      if (place === 'jsonChild') fail(`${where}: a sub-attribute of a JSON-stored attribute is JSON too`)
    } else if (s.kind === 'json') {
      for (const key of s.path) if (!JSON_KEY.test(key)) fail(`${where}: JSON key "${key}" is not allowed`)
      if (place === 'tableChild') fail(`${where}: sub-attributes of a child-table attribute are columns`)
      if (s.path.length === 0 && place !== 'jsonChild')
        fail(`${where}: an empty JSON path is only for sub-attributes`)
    } else if (s.kind === 'virtual') {
      if (attr.type !== 'complex' || attr.multiValued || place !== 'top') {
        fail(`${where}: only a top-level single-valued complex attribute can be virtual`)
      }
    } else {
      for (const id of [s.table, s.foreignKey, s.parentKey]) {
        if (!SQL_IDENTIFIER.test(id)) fail(`${where}: "${id}" is not a plain SQL identifier`)
      }
      if (attr.type !== 'complex' || !attr.multiValued || place !== 'top') {
        fail(`${where}: only a top-level multi-valued complex attribute can live in a child table`)
      }
    }
    if (place !== 'top' && attr.multiValued) fail(`${where}: sub-attributes are single-valued here`)
    if (attr.type === 'complex') {
      if (place !== 'top') fail(`${where}: sub-attributes cannot be complex (RFC 7643 §2.3.8)`)
      if (attr.subAttributes.length === 0) fail(`${where}: a complex attribute needs sub-attributes`)
      const childPlace =
        s.kind === 'virtual' ? 'virtualChild' : s.kind === 'childTable' ? 'tableChild' : 'jsonChild'
      for (const sub of attr.subAttributes) checkStorage(sub, childPlace)
    } else if (attr.subAttributes.length > 0) {
      fail(`${where}: only complex attributes have sub-attributes`)
    }
  }
  for (const part of [schema.core, ...schema.extensions]) {
    const names = new Set<string>()
    for (const attr of part.attributes) {
      const key = attr.name.toLowerCase()
      if (names.has(key)) fail(`attribute ${attr.name} appears twice in ${part.urn}`)
      names.add(key)
      checkStorage(attr, 'top')
    }
  }
  return schema
}

// ---------------------------------------------------------------------------------------------
// Core User and Group (RFC 7643 §4, §8.7.1) with the EnterpriseUser extension (§4.3)
// ---------------------------------------------------------------------------------------------

/** Where the SCIM layer keeps users: the table alias, its jsonb column, and columns promoted out of it. */
export interface UserFilterStorage {
  readonly table: string
  readonly jsonColumn: string
  readonly idColumn: string
  /** Defaults to uuid. */
  readonly idColumnType?: 'uuid' | 'text'
  /** Columns for attributes that are also (or only) kept outside the document; JSON when omitted. */
  readonly userNameColumn?: string
  readonly externalIdColumn?: string
  readonly displayNameColumn?: string
  readonly activeColumn?: string
  readonly createdColumn: string
  readonly updatedColumn: string
}

export interface GroupFilterStorage {
  readonly table: string
  readonly jsonColumn: string
  readonly idColumn: string
  readonly idColumnType?: 'uuid' | 'text'
  readonly displayNameColumn?: string
  readonly externalIdColumn?: string
  readonly createdColumn: string
  readonly updatedColumn: string
  /**
   * Members kept in a child table instead of the document's `members` array: the table, its column
   * referring to the group, the group's column it refers to, and the member's id (and, if stored,
   * display name and type) columns.
   */
  readonly membersTable?: {
    readonly table: string
    readonly groupColumn: string
    readonly valueColumn: string
    readonly valueColumnType?: 'uuid' | 'text'
    readonly displayColumn?: string
    readonly typeColumn?: string
  }
}

const str = (name: string, options: AttributeOptions = {}) => attribute(name, 'string', options)
const ref = (name: string, options: AttributeOptions = {}) => attribute(name, 'reference', options)
const bool = (name: string, options: AttributeOptions = {}) => attribute(name, 'boolean', options)

/** `value`, `display`, `type`, `primary`: the shape of emails, phoneNumbers, ims, roles, … */
function multiValued(name: string, value: FilterAttribute = str('value')): FilterAttribute {
  return attribute(name, 'complex', {
    multiValued: true,
    subAttributes: [value, str('display'), str('type'), bool('primary')],
  })
}

function optionalColumn(name: string | undefined, columnType: ColumnType): AttributeStorage | undefined {
  return name === undefined ? undefined : column(name, columnType)
}

/** id, externalId, meta and schemas: the common attributes of RFC 7643 §3.1 every resource has. */
function commonAttributes(storage: UserFilterStorage | GroupFilterStorage): FilterAttribute[] {
  return [
    // RFC 7643 §3.1: id and externalId are caseExact.
    str('id', { caseExact: true, storage: column(storage.idColumn, storage.idColumnType ?? 'uuid') }),
    str('externalId', { caseExact: true, storage: optionalColumn(storage.externalIdColumn, 'text') }),
    attribute('meta', 'complex', {
      storage: { kind: 'virtual' },
      subAttributes: [
        attribute('created', 'dateTime', { storage: column(storage.createdColumn, 'timestamptz') }),
        attribute('lastModified', 'dateTime', { storage: column(storage.updatedColumn, 'timestamptz') }),
        // resourceType, version and location are derived when a resource is served, not stored:
        // left out, a filter on them is a 400 rather than a silent "nothing matches".
      ],
    }),
    ref('schemas', { multiValued: true }),
  ]
}

export function userFilterSchema(storage: UserFilterStorage): ResourceFilterSchema {
  const name = attribute('name', 'complex', {
    subAttributes: [
      'formatted',
      'familyName',
      'givenName',
      'middleName',
      'honorificPrefix',
      'honorificSuffix',
    ].map((sub) => str(sub)),
  })
  const address = attribute('addresses', 'complex', {
    multiValued: true,
    subAttributes: [
      ...['formatted', 'streetAddress', 'locality', 'region', 'postalCode', 'country', 'type'].map((sub) =>
        str(sub),
      ),
      bool('primary'),
    ],
  })
  return defineResourceSchema({
    resourceType: 'User',
    table: storage.table,
    jsonColumn: storage.jsonColumn,
    core: {
      urn: CORE_USER_URN,
      attributes: [
        ...commonAttributes(storage),
        str('userName', { storage: optionalColumn(storage.userNameColumn, 'text') }),
        name,
        str('displayName', { storage: optionalColumn(storage.displayNameColumn, 'text') }),
        ...['nickName', 'title', 'userType', 'preferredLanguage', 'locale', 'timezone'].map((n) => str(n)),
        ref('profileUrl'),
        bool('active', { storage: optionalColumn(storage.activeColumn, 'boolean') }),
        multiValued('emails'),
        multiValued('phoneNumbers'),
        multiValued('ims'),
        multiValued('photos', ref('value')),
        address,
        multiValued('entitlements'),
        multiValued('roles'),
      ],
    },
    extensions: [
      {
        urn: ENTERPRISE_USER_URN,
        attributes: [
          ...['employeeNumber', 'costCenter', 'organization', 'division', 'department'].map((n) =>
            str(n, { storage: jsonPath(ENTERPRISE_USER_URN, n) }),
          ),
          attribute('manager', 'complex', {
            storage: jsonPath(ENTERPRISE_USER_URN, 'manager'),
            subAttributes: [str('value'), ref('$ref'), str('displayName')],
          }),
        ],
      },
    ],
  })
}

export function groupFilterSchema(storage: GroupFilterStorage): ResourceFilterSchema {
  const members = storage.membersTable
  const membersAttribute = members
    ? attribute('members', 'complex', {
        multiValued: true,
        storage: {
          kind: 'childTable',
          table: members.table,
          foreignKey: members.groupColumn,
          parentKey: storage.idColumn,
        },
        subAttributes: [
          str('value', { storage: column(members.valueColumn, members.valueColumnType ?? 'uuid') }),
          ...(members.displayColumn
            ? [str('display', { storage: column(members.displayColumn, 'text') })]
            : []),
          ...(members.typeColumn ? [str('type', { storage: column(members.typeColumn, 'text') })] : []),
        ],
      })
    : attribute('members', 'complex', {
        multiValued: true,
        subAttributes: [str('value'), ref('$ref'), str('display'), str('type')],
      })
  return defineResourceSchema({
    resourceType: 'Group',
    table: storage.table,
    jsonColumn: storage.jsonColumn,
    core: {
      urn: CORE_GROUP_URN,
      attributes: [
        ...commonAttributes(storage),
        str('displayName', { storage: optionalColumn(storage.displayNameColumn, 'text') }),
        membersAttribute,
      ],
    },
    extensions: [],
  })
}
