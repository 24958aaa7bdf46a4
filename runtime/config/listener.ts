/**
 * `config.listener.v3.Listener` with one filter chain whose only network filter is the HTTP
 * connection manager (Sluice has no filter_chain_match, so more chains could never be selected).
 */
import type { FilterChain, Listener, NetworkFilter } from './types.ts';
import { ADDRESS, addressText } from './address.ts';
import { LISTENER_DECLS } from './cross-checks.ts';
import type { ListenerFact } from './cross-checks.ts';
import { HCM_FILTER_NAME, HCM_TYPE_URL, HTTP_CONNECTION_MANAGER } from './hcm.ts';
import { bool, collected, enumOf, list, message, report, str, uint32 } from './schema.ts';
import type { Parser } from './schema.ts';
import { TYPED_CONFIG } from './typed-config.ts';

const NETWORK_FILTER: Parser<NetworkFilter> = message({
  fields: { name: str({ minLen: 1 }), typed_config: TYPED_CONFIG },
  unsupported: ['config_discovery'],
  required: ['name'],
  build(f, m) {
    if (!m.has('typed_config')) {
      if (f.name === undefined) return undefined;
      const message = f.name === HCM_FILTER_NAME
        ? 'missing required field "typed_config"'
        : `network filter "${f.name}" is not supported by Sluice; only ${HCM_FILTER_NAME} is`;
      report(m.ctx, f.name === HCM_FILTER_NAME ? m.loc('typed_config') : m.loc('name'), message);
      return undefined;
    }
    if (f.typed_config === undefined) return undefined;
    if (f.typed_config.type_url !== HCM_TYPE_URL) {
      report(m.ctx, m.loc('typed_config'), `network filter type "${f.typed_config.type_url}" is not supported by Sluice; only ${HCM_TYPE_URL} is`);
      return undefined;
    }
    const hcm = HTTP_CONNECTION_MANAGER.parse(f.typed_config.value, m.loc('typed_config'), m.ctx);
    return hcm === undefined || f.name === undefined ? undefined : { name: f.name, http_connection_manager: hcm };
  },
});

const FILTER_CHAIN: Parser<FilterChain> = message({
  fields: { name: str(), filters: list(NETWORK_FILTER, { min: 1 }) },
  unsupported: [
    'filter_chain_match', 'transport_socket', 'transport_socket_connect_timeout', 'metadata', 'use_proxy_proto',
    'on_demand_configuration',
  ],
  required: ['filters'],
  build(f, m) {
    if (f.filters === undefined) return undefined;
    f.filters.slice(0, -1).forEach((_, i) => {
      report(m.ctx, m.loc('filters', i), 'the http_connection_manager must be the last (and only) network filter');
    });
    return { ...f, filters: f.filters };
  },
});

export const LISTENER: Parser<Listener> = message({
  fields: {
    name: str({ minLen: 1 }),
    address: ADDRESS,
    stat_prefix: str(),
    filter_chains: list(FILTER_CHAIN, { min: 1 }),
    per_connection_buffer_limit_bytes: uint32(),
    enable_reuse_port: bool,
    // Only used by Envoy's /drain_listeners?inboundonly; accepted and ignored.
    traffic_direction: enumOf(['UNSPECIFIED', 'INBOUND', 'OUTBOUND'] as const),
  },
  unsupported: [
    'additional_addresses', 'default_filter_chain', 'filter_chain_matcher', 'listener_filters',
    'listener_filters_timeout', 'continue_on_listener_filters_timeout', 'use_original_dst', 'drain_type',
    'bind_to_port', 'tcp_backlog_size', 'connection_balance_config', 'access_log', 'ignore_global_conn_limit',
    'bypass_overload_manager', 'tcp_keepalive', 'socket_options', 'transparent', 'freebind', 'udp_listener_config',
    'api_listener', 'internal_listener', 'enable_mptcp', 'metadata', 'reuse_port', 'tcp_fast_open_queue_length',
    'max_connections_to_accept_per_socket_event', 'listener_specifier', 'fcds_config',
  ],
  required: ['address', 'filter_chains'],
  build(f, m) {
    if (f.address === undefined || f.filter_chains === undefined) return undefined;
    if (f.filter_chains.length > 1) {
      report(m.ctx, m.loc('filter_chains', 1), 'a listener takes exactly one filter chain (Sluice does not support filter_chain_match)');
    }
    const { traffic_direction: _, ...rest } = f;
    const name = f.name ?? `listener_${f.address.address}_${f.address.port_value}`;
    collected<ListenerFact>(m.ctx, LISTENER_DECLS).push({
      name,
      at: m.has('name') ? m.loc('name') : m.at,
      address: f.address.port_value === 0 ? undefined : addressText(f.address),
      addressAt: m.loc('address'),
    });
    return { name, ...rest, address: f.address, filter_chains: f.filter_chains };
  },
});
