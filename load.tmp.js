const token = process.argv[2]
const N = 3000
let next = 0
const t0 = Date.now()
async function worker() {
  while (next < N) {
    const i = next++
    const r = await fetch('http://127.0.0.1:3999/scim/v2/Users', {
      method: 'POST',
      headers: { authorization: 'Bearer ' + token, 'content-type': 'application/scim+json' },
      body: JSON.stringify({
        schemas: [
          'urn:ietf:params:scim:schemas:core:2.0:User',
          'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
        ],
        userName: `p${i}-${t0}@load.example`,
        name: { givenName: 'P', familyName: String(i) },
        displayName: 'P ' + i,
        emails: [{ value: `p${i}-${t0}@load.example`, type: 'work', primary: true }],
        active: true,
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': {
          department: `Div ${i % 5}/Dept ${i % 50}`,
          employeeNumber: String(i),
        },
      }),
    })
    if (r.status !== 201) console.log(r.status, await r.text())
    else await r.arrayBuffer()
  }
}
Promise.all(Array.from({ length: 32 }, worker)).then(() =>
  console.log(N / ((Date.now() - t0) / 1000), 'creates/s'),
)
