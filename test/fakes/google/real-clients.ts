import { admin, type admin_directory_v1 } from '@googleapis/admin'
import { JWT } from 'google-auth-library'
import { DEFAULT_DELEGATION_SCOPES, type GoogleFake } from './google-fake'
import { pointJwtAt } from './point-jwt'

interface KeyFields {
  client_email: string
  private_key: string
}

export interface ClientOptions {
  /** Defaults to the fake's admin; null sends no `sub` (the service account acting as itself). */
  subject?: string | null
  scopes?: string[]
  /** Overrides the private key (PEM), e.g. to sign with a key Google does not know. */
  privateKey?: string
}

/** A google-auth-library JWT client for the fake's service account, sending its token requests to the fake. */
export function jwtFor(fake: GoogleFake, options: ClientOptions = {}): JWT {
  const key = JSON.parse(fake.serviceAccountKey) as KeyFields
  const subject = options.subject === undefined ? fake.subject : options.subject
  const client = new JWT({
    email: key.client_email,
    key: options.privateKey ?? key.private_key,
    scopes: options.scopes ?? DEFAULT_DELEGATION_SCOPES,
    ...(subject === null ? {} : { subject }),
    // Gaxios otherwise loads node-fetch with a dynamic import(), which jest's CommonJS runtime refuses
    // ("A dynamic import callback was invoked without --experimental-vm-modules"). Node's fetch works.
    transporterOptions: { fetchImplementation: fetch },
  })
  pointJwtAt(client, fake.tokenUrl)
  return client
}

/** The real @googleapis/admin Directory client, pointed at the fake. */
export function directoryFor(fake: GoogleFake, options: ClientOptions = {}): admin_directory_v1.Admin {
  return admin({ version: 'directory_v1', auth: jwtFor(fake, options), rootUrl: fake.rootUrl })
}
