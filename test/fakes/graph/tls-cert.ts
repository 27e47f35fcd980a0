import { generate } from 'selfsigned'

export interface TlsMaterial {
  /** PEM private key for the server. */
  key: string
  /** PEM certificate; self-signed, so it is also the CA a client must trust. */
  cert: string
}

/**
 * A throwaway certificate valid for `localhost` and 127.0.0.1, so clients can reach the fake by either
 * name with full verification on (a client that had to switch verification off would not be testing
 * what production does). EC keys because RSA generation is slow enough to show up in test times.
 */
export async function generateTlsCert(): Promise<TlsMaterial> {
  const notBeforeDate = new Date(Date.now() - 60_000)
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: new Date(notBeforeDate.getTime() + 7 * 24 * 3600_000),
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  })
  return { key: pems.private, cert: pems.cert }
}
