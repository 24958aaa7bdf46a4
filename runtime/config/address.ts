/** `config.core.v3.Address`: Sluice implements `socket_address` (TCP). */
import type { SocketAddress } from './types.ts';
import { bool, collected, enumOf, message, str, uint32 } from './schema.ts';
import type { At, Parser } from './schema.ts';

/** Every socket address seen, for checks by the owner (STATIC clusters need IP literals). */
export const SOCKET_ADDRESSES = 'socket_addresses';
export interface SocketAddressFact {
  value: SocketAddress;
  addressAt: At;
  portAt: At;
}

const SOCKET_ADDRESS: Parser<SocketAddress> = message({
  fields: {
    protocol: enumOf(['TCP'], ['UDP']),
    address: str({ minLen: 1 }),
    port_value: uint32({ max: 65535 }),
    // Node binds `::` dual-stack, which is what ipv4_compat asks for; accepted and ignored.
    ipv4_compat: bool,
  },
  unsupported: ['named_port', 'resolver_name', 'network_namespace_filepath'],
  required: ['address'],
  build(f, m) {
    if (f.address === undefined) return undefined;
    const value = { address: f.address, port_value: f.port_value ?? 0 };
    collected<SocketAddressFact>(m.ctx, SOCKET_ADDRESSES).push({
      value,
      addressAt: m.loc('address'),
      portAt: m.loc('port_value'),
    });
    return value;
  },
});

export const ADDRESS: Parser<SocketAddress> = message({
  fields: { socket_address: SOCKET_ADDRESS },
  unsupported: ['pipe', 'envoy_internal_address'],
  oneOf: [{ fields: ['socket_address', 'pipe', 'envoy_internal_address'], required: true }],
  build: (f) => f.socket_address,
});

/** `ip:port` with brackets for IPv6, as Envoy prints addresses. */
export function addressText(a: SocketAddress): string {
  return a.address.includes(':') ? `[${a.address}]:${a.port_value}` : `${a.address}:${a.port_value}`;
}
