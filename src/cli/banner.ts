/** The one time a generated admin token is shown: plain text on stdout, never through the logger. */
export function bootstrapTokenBanner(url: string, token: string): string {
  const rule = '='.repeat(78)
  return [
    '',
    rule,
    '  orgsync: no admin existed, so one was created with this API token.',
    '  It is shown only now and stored only as a hash: keep it somewhere safe.',
    '',
    `    ${token}`,
    '',
    '  Try it:',
    `    curl -H "Authorization: Bearer ${token}" ${url}/api/v1/sources`,
    '',
    '  Lost it? Restart with ORGSYNC_ADMIN_TOKEN set to a secret of your choosing.',
    rule,
    '',
  ].join('\n')
}
