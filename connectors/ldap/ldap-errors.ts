import { ConnectorError } from '../../src/sync/connector'

/** AD's bind failure sub-codes (in the message as `data 52e`), in an AD admin's words. */
const AD_BIND_CODES: Record<string, string> = {
  '525': 'the bind account does not exist',
  '52e': 'wrong password for the bind account (or, on Samba, no such account)',
  '530': 'the bind account may not log on at this time',
  '531': 'the bind account may not log on from this workstation',
  '532': "the bind account's password has expired",
  '533': 'the bind account is disabled',
  '701': 'the bind account has expired',
  '773': 'the bind account must change its password before it can bind',
  '775': 'the bind account is locked out',
}

interface LdapLikeError {
  code?: number | string
  message?: string
}

/** A failure to connect or bind, as an admin can act on it. */
export function bindError(err: unknown, url: string, bindDn: string): ConnectorError {
  const e = (err ?? {}) as LdapLikeError
  const message = e.message ?? String(err)
  if (e.code === 49) {
    const sub = /data ([0-9a-f]{3})/i.exec(message)?.[1]?.toLowerCase()
    const what =
      sub && AD_BIND_CODES[sub]
        ? `${AD_BIND_CODES[sub]} (AD code ${sub})`
        : 'invalid credentials: the password is wrong or there is no account with that DN (LDAP code 49)'
    return new ConnectorError('auth', `ldap: bind as ${bindDn} failed: ${what}`, { cause: err })
  }
  if (e.code === 8)
    return new ConnectorError(
      'invalid-config',
      `ldap: the server requires a protected connection for binds: use ldaps:// or StartTLS (ldap:// without allowInsecure)`,
      { cause: err },
    )
  const errno = (err as NodeJS.ErrnoException)?.code
  if (typeof errno === 'string') {
    if (/CERT|SELF_SIGNED|UNABLE_TO|HOSTNAME|ERR_TLS/.test(errno) || /certificate/i.test(message))
      return new ConnectorError(
        'invalid-config',
        `ldap: the TLS certificate of ${url} is not trusted (${errno}: ${message}): set tlsCa or tlsCaFile to the CA that issued it, and connect by a name the certificate holds`,
        { cause: err },
      )
    if (
      errno === 'ECONNREFUSED' ||
      errno === 'EHOSTUNREACH' ||
      errno === 'ENOTFOUND' ||
      errno === 'ETIMEDOUT'
    )
      return new ConnectorError('transient', `ldap: cannot reach ${url} (${errno})`, { cause: err })
  }
  if (/timeout|ECONNRESET|socket/i.test(message))
    return new ConnectorError('transient', `ldap: connection to ${url} failed: ${message}`, { cause: err })
  return new ConnectorError('permanent', `ldap: connecting to ${url} as ${bindDn} failed: ${message}`, {
    cause: err,
  })
}

/** A failed search. */
export function searchError(err: unknown, what: string, base: string): ConnectorError {
  const e = (err ?? {}) as LdapLikeError
  const message = e.message ?? String(err)
  if (e.code === 32)
    return new ConnectorError('invalid-config', `ldap: ${what}: the base DN ${base} does not exist`, {
      cause: err,
    })
  if (e.code === 4)
    return new ConnectorError(
      'permission',
      `ldap: ${what}: the server's size limit for the bind account stopped the search under ${base} (LDAP code 4, even when paged): lift it for that account (OpenLDAP: limits dn.exact="<bind DN>" size=unlimited; 389-DS: nsSizeLimit and nsPagedSizeLimit -1 on the account)`,
      { cause: err },
    )
  if (e.code === 50)
    return new ConnectorError('permission', `ldap: ${what}: the bind account may not read ${base}`, {
      cause: err,
    })
  if (e.code === 51 || e.code === 52 || e.code === 80 || /timeout|ECONNRESET|socket|closed/i.test(message))
    return new ConnectorError('transient', `ldap: ${what}: ${message}`, { cause: err })
  return new ConnectorError('permanent', `ldap: ${what}: ${message}`, { cause: err })
}
