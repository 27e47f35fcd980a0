import { generateKeyPair, randomBytes, randomInt, type KeyObject, createPublicKey } from 'node:crypto'
import { promisify } from 'node:util'

const generateRsaKeyPair = promisify(generateKeyPair)

/** The JSON a Google Cloud console "Create key" download contains, pointed at the fake. */
export interface ServiceAccountKeyJson {
  type: 'service_account'
  project_id: string
  private_key_id: string
  private_key: string
  client_email: string
  client_id: string
  auth_uri: string
  token_uri: string
  auth_provider_x509_cert_url: string
  client_x509_cert_url: string
  universe_domain: 'googleapis.com'
}

export interface ServiceAccount {
  json: ServiceAccountKeyJson
  publicKey: KeyObject
}

function digits(count: number): string {
  let out = String(randomInt(1, 10))
  while (out.length < count) out += String(randomInt(0, 10))
  return out
}

export async function createServiceAccount(
  tokenUrl: string,
  projectId = 'orgsync-fake',
): Promise<ServiceAccount> {
  const { privateKey } = await generateRsaKeyPair('rsa', { modulusLength: 2048 })
  const clientEmail = `orgsync-sync@${projectId}.iam.gserviceaccount.com`
  const json: ServiceAccountKeyJson = {
    type: 'service_account',
    project_id: projectId,
    private_key_id: randomBytes(20).toString('hex'),
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    client_email: clientEmail,
    // The numeric "unique id" an admin pastes into the domain-wide delegation screen.
    client_id: digits(21),
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: tokenUrl,
    auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
    client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(clientEmail)}`,
    universe_domain: 'googleapis.com',
  }
  return { json, publicKey: createPublicKey(privateKey) }
}
