// PGlite's CommonJS build loads Node builtins with `await import("fs")`, which jest's module
// sandbox rejects without --experimental-vm-modules. Rewrite those to require() for tests only.
'use strict'
const { builtinModules } = require('node:module')
const { createHash } = require('node:crypto')

const builtins = new Set(builtinModules)
const pattern = /\bimport\(\s*["']([a-z_:/]+)["']\s*\)/g

module.exports = {
  process(source) {
    const code = source.replace(pattern, (whole, name) =>
      builtins.has(name.replace(/^node:/, ''))
        ? `Promise.resolve().then(() => { const m = __builtinRequire(${JSON.stringify(name)}); return { ...m, default: m } })`
        : whole,
    )
    // The bundle declares a function-scoped `var require` of its own; keep a handle on the real one.
    return { code: `const __builtinRequire = require;${code}` }
  },
  getCacheKey(source) {
    return createHash('sha256').update('pglite-transform-v2').update(source).digest('hex')
  },
}
