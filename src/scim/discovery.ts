import { CORE_GROUP_URN, CORE_USER_URN, ENTERPRISE_USER_URN } from './filter'
import { MAX_PAGE_SIZE } from './list-params'
import type { ResourceContext } from './resource-location'
import { ORGSYNC_USER_URN, schemaDocuments } from './schema'

/** RFC 7644 §4 discovery: what this service provider supports, as its limits are really enforced. */

export const BULK_MAX_OPERATIONS = 1000
export const BULK_MAX_PAYLOAD_BYTES = 1_048_576
/** Non-bulk bodies: a group PUT carries its whole member list. */
export const MAX_BODY_BYTES = 8 * 1_048_576

export function serviceProviderConfig(ctx: ResourceContext): Record<string, unknown> {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
    documentationUri: 'https://github.com/orgsync/orgsync#scim',
    patch: { supported: true },
    bulk: { supported: true, maxOperations: BULK_MAX_OPERATIONS, maxPayloadSize: BULK_MAX_PAYLOAD_BYTES },
    filter: { supported: true, maxResults: MAX_PAGE_SIZE },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'OAuth Bearer Token',
        description: 'A SCIM token of the source, created by an orgsync admin: Authorization: Bearer <token>',
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${ctx.baseUrl}/ServiceProviderConfig` },
  }
}

export function resourceTypes(ctx: ResourceContext): Record<string, unknown>[] {
  const meta = (id: string) => ({
    resourceType: 'ResourceType',
    location: `${ctx.baseUrl}/ResourceTypes/${id}`,
  })
  return [
    {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
      id: 'User',
      name: 'User',
      endpoint: '/Users',
      description:
        'A user of the identity provider: an identity of this source, linked to a person in the org',
      schema: CORE_USER_URN,
      schemaExtensions: [
        { schema: ENTERPRISE_USER_URN, required: false },
        { schema: ORGSYNC_USER_URN, required: false },
      ],
      meta: meta('User'),
    },
    {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
      id: 'Group',
      name: 'Group',
      endpoint: '/Groups',
      description: 'A group of this source; its members are users of the same source',
      schema: CORE_GROUP_URN,
      meta: meta('Group'),
    },
  ]
}

export function schemas(ctx: ResourceContext): Record<string, unknown>[] {
  return schemaDocuments().map((doc) => ({
    ...doc,
    meta: { resourceType: 'Schema', location: `${ctx.baseUrl}/Schemas/${doc.id}` },
  }))
}
