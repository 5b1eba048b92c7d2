/**
 * Images fetched by URL for `POST /api/predict {"url": …}`. The server fetches
 * what a browser asks, so it must not become a way into the network it sits
 * in: only http(s); addresses of this machine, of private networks and
 * link-local ones (cloud metadata at 169.254.169.254) are refused unless the
 * operator allows them. The address is checked when the connection is made,
 * after DNS resolution, so a name that resolves to a public address for a
 * check and to 127.0.0.1 for the fetch (DNS rebinding) is refused too.
 */
import {lookup as dnsLookup} from 'node:dns'
import {BlockList, isIP} from 'node:net'

import {Agent, type Dispatcher, request} from 'undici'

import {UserError, errorMessage} from '../errors.js'

export interface ImageUrlOptions {
  /** Allow loopback, private and link-local addresses (a test server, an intranet). */
  allowPrivate: boolean
  maxBytes: number
  /** The whole fetch, connection to last byte. */
  timeoutMs: number
}

export const IMAGE_URL_DEFAULTS = {timeoutMs: 10_000, maxRedirects: 3} as const

/** Addresses that are not the public internet (IANA special-purpose registries). */
const NOT_PUBLIC = new BlockList()
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NOT_PUBLIC.addSubnet(network, prefix, 'ipv4')
}

for (const [network, prefix] of [
  ['::', 127],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  NOT_PUBLIC.addSubnet(network, prefix, 'ipv6')
}

/** True when `address` (IPv4 or IPv6, v4-mapped and NAT64 included) is loopback, private, link-local or otherwise not public. */
export function isPrivateAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').toLowerCase()
  const family = isIP(bare)
  if (family === 4) return NOT_PUBLIC.check(bare, 'ipv4')
  if (family !== 6) return true
  // IPv4 inside IPv6 (::ffff:a.b.c.d, 64:ff9b::a.b.c.d) is judged as the IPv4 address it carries.
  const embedded = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(bare)?.[1]
  if (embedded) return NOT_PUBLIC.check(embedded, 'ipv4')
  const mappedHex = /^(?:::ffff:|64:ff9b::)([\da-f]{1,4}):([\da-f]{1,4})$/.exec(bare)
  if (mappedHex) {
    const high = Number.parseInt(mappedHex[1], 16)
    const low = Number.parseInt(mappedHex[2], 16)
    return NOT_PUBLIC.check(`${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`, 'ipv4')
  }

  return NOT_PUBLIC.check(bare, 'ipv6')
}

class RefusedAddress extends Error {}

/** An Agent whose every connection goes only to public addresses (checked on the resolved address itself). */
function publicOnlyAgent(allowPrivate: boolean): Agent {
  return new Agent({
    connect: {
      lookup(hostname, options, callback) {
        dnsLookup(hostname, {...options, all: true}, (error, addresses) => {
          if (error) return callback(error, '', 0)
          const list = addresses as Array<{address: string; family: number}>
          const refused = allowPrivate ? undefined : list.find((entry) => isPrivateAddress(entry.address))
          if (refused) return callback(new RefusedAddress(`${hostname} resolves to ${refused.address}`), '', 0)
          if (options.all) return (callback as unknown as (e: null, a: typeof list) => void)(null, list)
          callback(null, list[0].address, list[0].family)
        })
      },
    },
  })
}

const agents = new Map<boolean, Agent>()

/** Fetch an image by URL within the limits; throws UserError saying what was refused and why. */
export async function fetchImageUrl(raw: string, options: ImageUrlOptions): Promise<{bytes: Buffer; name: string}> {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new UserError(`"${raw.slice(0, 100)}" is not a URL; give an http(s) address of an image`)
  }

  let agent = agents.get(options.allowPrivate)
  if (!agent) {
    agent = publicOnlyAgent(options.allowPrivate)
    agents.set(options.allowPrivate, agent)
  }

  const signal = AbortSignal.timeout(options.timeoutMs)
  const shown = url.href.length > 100 ? `${url.href.slice(0, 97)}…` : url.href
  for (let redirects = 0; ; redirects++) {
    checkUrl(url, options.allowPrivate)
    let response: Dispatcher.ResponseData
    try {
      response = await request(url, {dispatcher: agent, signal, headers: {accept: 'image/*'}})
    } catch (error) {
      throw fetchFailure(error, shown, options)
    }

    const {statusCode, headers, body} = response
    if (statusCode >= 300 && statusCode < 400 && typeof headers.location === 'string') {
      body.resume()
      if (redirects >= IMAGE_URL_DEFAULTS.maxRedirects)
        throw new UserError(`${shown}: more than ${IMAGE_URL_DEFAULTS.maxRedirects} redirects; give the image's own address`)
      url = new URL(headers.location, url)
      continue
    }

    if (statusCode !== 200) {
      body.resume()
      throw new UserError(`${shown}: the server answered HTTP ${statusCode}; check the address`)
    }

    const type = String(headers['content-type'] ?? '').toLowerCase()
    if (!type.startsWith('image/')) {
      body.resume()
      throw new UserError(`${shown}: that address is not an image (Content-Type "${type || 'none'}"); give the address of the image itself`)
    }

    const length = Number(headers['content-length'])
    if (Number.isFinite(length) && length > options.maxBytes) {
      body.destroy()
      throw tooLarge(shown, options.maxBytes)
    }

    const chunks: Buffer[] = []
    let size = 0
    try {
      for await (const chunk of body) {
        size += (chunk as Buffer).length
        if (size > options.maxBytes) {
          body.destroy()
          throw tooLarge(shown, options.maxBytes)
        }

        chunks.push(chunk as Buffer)
      }
    } catch (error) {
      if (error instanceof UserError) throw error
      throw fetchFailure(error, shown, options)
    }

    return {bytes: Buffer.concat(chunks), name: shown}
  }
}

function checkUrl(url: URL, allowPrivate: boolean): void {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UserError(`only http and https addresses can be fetched, not ${url.protocol.replace(/:$/, '')}:`)
  }

  if (url.username || url.password) throw new UserError('addresses with a user name or password are not fetched')
  // A literal address never goes through DNS, so it is checked here.
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (!allowPrivate && isIP(host) !== 0 && isPrivateAddress(host)) throw refused(url.host, host)
  if (!allowPrivate && /^localhost\.?$/i.test(host)) throw refused(url.host, '127.0.0.1')
}

function refused(host: string, address: string): UserError {
  return new UserError(
    `${host} is ${address}, an address of this machine or a private network, which is not fetched; give a public image address (serve --allow-private-urls allows them)`,
  )
}

function tooLarge(shown: string, maxBytes: number): UserError {
  return new UserError(`${shown}: the image is larger than the ${+(maxBytes / 1024 / 1024).toFixed(1)} MiB limit; give a smaller one`)
}

function fetchFailure(error: unknown, shown: string, options: ImageUrlOptions): UserError {
  let cause: unknown = error
  while (cause instanceof Error && !(cause instanceof RefusedAddress) && cause.cause) cause = cause.cause
  if (cause instanceof RefusedAddress) {
    const [host, address] = cause.message.split(' resolves to ')
    return refused(host, address)
  }

  const name = (error as Error).name
  if (name === 'TimeoutError' || name === 'AbortError')
    return new UserError(`${shown}: no complete answer within ${options.timeoutMs / 1000} s; try another address`)
  return new UserError(`${shown}: could not fetch it (${errorMessage(cause).replaceAll(/\s+/g, ' ')}); check the address`)
}
