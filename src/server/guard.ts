/**
 * What keeps a server on a machine with a browser from being driven by the
 * web pages that browser visits:
 *
 * - Host allow-list: a page that rebinds its own name to 127.0.0.1 (DNS
 *   rebinding) still sends its own name in `Host`, and is refused.
 * - Same-origin writes: a request that changes state is refused when the
 *   browser says it comes from another site (`Origin`, `Sec-Fetch-Site`).
 *   Clients that send neither header (curl, scripts) are not browsers
 *   acting on someone else's behalf, and keep working.
 * - Typed bodies: state-changing requests carry JSON, multipart or image
 *   bytes; the content types an HTML form can send cross-site without
 *   asking (text/plain, urlencoded) are refused.
 * - An optional access token for a server reachable from other machines.
 */
import {timingSafeEqual} from 'node:crypto'
import {hostname, networkInterfaces} from 'node:os'

import type {Context, MiddlewareHandler} from 'hono'
import {getCookie, setCookie} from 'hono/cookie'

export const TOKEN_COOKIE = 'digit_token'
export const TOKEN_QUERY = 'token'

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]']

/** Methods that never change state: the origin check leaves them alone (the Host check does not). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase()
  return bare === 'localhost' || bare === '::1' || /^127\.\d+\.\d+\.\d+$/.test(bare)
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]' || host === ''
}

/** `name:port` or `[v6]:port` → the name part, lower case, IPv6 in brackets. */
export function hostName(header: string): string {
  const value = header.trim().toLowerCase()
  if (value.startsWith('[')) return value.slice(0, value.indexOf(']') + 1)
  const colon = value.lastIndexOf(':')
  return colon === -1 ? value : value.slice(0, colon)
}

function bracket(address: string): string {
  return address.includes(':') && !address.startsWith('[') ? `[${address}]` : address
}

/**
 * Host names this server answers to: the loopback names, what `--host` names,
 * and, when bound to every interface, this machine's name and addresses.
 * `extra` adds names the operator vouches for (a reverse proxy's public name).
 */
export function allowedHosts(bindHost: string, extra: readonly string[] = []): Set<string> {
  const names = new Set([...LOOPBACK_NAMES, ...extra.map((name) => bracket(name.toLowerCase()))])
  if (isWildcard(bindHost)) {
    names.add(hostname().toLowerCase())
    for (const addresses of Object.values(networkInterfaces())) {
      for (const address of addresses ?? []) names.add(bracket(address.address.toLowerCase()))
    }
  } else {
    names.add(bracket(bindHost.toLowerCase()))
  }

  return names
}

export interface GuardOptions {
  allowedHosts: Set<string>
  /** When set, every request but the page's assets and health must prove it knows this. */
  token?: string
}

function sameToken(given: string | undefined, token: string): boolean {
  if (given === undefined) return false
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

function refuse(c: Context, status: 401 | 403 | 415, error: string): Response {
  return c.json({error}, status)
}

/** Content types a state-changing request may carry. */
function typedBody(type: string, path: string): boolean {
  if (type === '') return true // no body at all (curl -X POST): nothing to misread
  if (type.startsWith('application/json')) return true
  if (path === '/api/predict') return type.startsWith('multipart/form-data') || type.startsWith('image/') || type.startsWith('application/octet-stream')
  return false
}

export function guard(options: GuardOptions): MiddlewareHandler {
  return async (c, next) => {
    const host = c.req.header('host')
    if (host === undefined || !options.allowedHosts.has(hostName(host))) {
      return refuse(c, 403, `this server does not answer to the host name "${host ?? ''}"; open it as http://127.0.0.1 or start serve with --allowed-host NAME`)
    }

    if (!SAFE_METHODS.has(c.req.method)) {
      const site = c.req.header('sec-fetch-site')
      const origin = c.req.header('origin')
      const ownOrigin = `${new URL(c.req.url).protocol}//${host.toLowerCase()}`
      if ((site !== undefined && site !== 'same-origin' && site !== 'none') || (origin !== undefined && origin.toLowerCase() !== ownOrigin)) {
        return refuse(c, 403, 'cross-site request refused: only the page served here may change state')
      }

      const type = (c.req.header('content-type') ?? '').toLowerCase()
      if (!typedBody(type, c.req.path)) {
        return refuse(
          c,
          415,
          `unsupported Content-Type "${type}"; send JSON (application/json)${c.req.path === '/api/predict' ? ', multipart/form-data or image bytes' : ''}`,
        )
      }
    }

    if (options.token !== undefined && !(await authorised(c, options.token))) {
      return refuse(c, 401, 'this server needs its access token: open the URL serve printed (…/?token=…), or send "Authorization: Bearer TOKEN"')
    }

    await next()
  }
}

/** The page and its assets stay public (they hold nothing); the API needs the token. */
async function authorised(c: Context, token: string): Promise<boolean> {
  const path = c.req.path
  const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '')?.[1]
  if (sameToken(bearer, token) || sameToken(getCookie(c, TOKEN_COOKIE), token)) return true
  if (path === '/' && sameToken(c.req.query(TOKEN_QUERY), token)) {
    // Trade the token in the URL for a cookie the page's own requests carry.
    setCookie(c, TOKEN_COOKIE, token, {httpOnly: true, sameSite: 'Strict', path: '/'})
    return true
  }

  return path === '/' || path.startsWith('/assets/') || path === '/favicon.svg' || path === '/favicon.ico' || path === '/api/health'
}
