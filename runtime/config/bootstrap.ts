/**
 * `config.bootstrap.v3.Bootstrap`: node, admin, static listeners and clusters, filesystem xDS
 * (`dynamic_resources` with LDS/CDS files, see dynamic-resources.ts), stats_flush_interval. gRPC
 * xDS, runtime, overload manager, tracing, stats sinks and the other top-level sections are Envoy
 * features Sluice does not implement and are rejected by name. Cross-checks (unique names, route →
 * cluster references) run in load.ts once the LDS/CDS files have been parsed too.
 */
import type { AdminConfig, Bootstrap, NodeInfo } from './types.ts';
import { ACCESS_LOG, fileAccessLog } from './access-log.ts';
import { ADDRESS } from './address.ts';
import { CLUSTER } from './cluster.ts';
import { DYNAMIC_RESOURCES } from './dynamic-resources.ts';
import { LISTENER } from './listener.ts';
import { duration, list, message, str, struct } from './schema.ts';
import type { Parser } from './schema.ts';

const LOCALITY = message({ fields: { region: str(), zone: str(), sub_zone: str() } });

const NODE: Parser<NodeInfo> = message({
  fields: { id: str(), cluster: str(), metadata: struct, locality: LOCALITY, user_agent_name: str() },
  unsupported: [
    'dynamic_parameters', 'user_agent_version', 'user_agent_build_version', 'extensions', 'client_features',
    'listening_addresses',
  ],
});

const ADMIN: Parser<AdminConfig> = message({
  fields: { address: ADDRESS, access_log: list(ACCESS_LOG), access_log_path: str({ minLen: 1 }) },
  unsupported: ['profile_path', 'socket_options', 'ignore_global_conn_limit', 'allow_paths'],
  build(f) {
    const logs = [...(f.access_log ?? []), ...(f.access_log_path === undefined ? [] : [fileAccessLog(f.access_log_path)])];
    const out: AdminConfig = {};
    if (f.address !== undefined) out.address = f.address;
    if (logs.length > 0) out.access_log = logs;
    return out;
  },
});

const STATIC_RESOURCES = message({
  fields: { listeners: list(LISTENER), clusters: list(CLUSTER) },
  unsupported: ['secrets'],
  build: (f) => ({ listeners: f.listeners ?? [], clusters: f.clusters ?? [] }),
});

export const BOOTSTRAP: Parser<Bootstrap> = message({
  fields: {
    node: NODE,
    admin: ADMIN,
    static_resources: STATIC_RESOURCES,
    dynamic_resources: DYNAMIC_RESOURCES,
    stats_flush_interval: duration({ min: 1, max: 300_000 }),
  },
  unsupported: [
    'cluster_manager', 'hds_config', 'flags_path', 'stats_sinks', 'deferred_stat_options',
    'stats_config', 'stats_flush_on_admin', 'watchdog', 'watchdogs', 'tracing', 'layered_runtime', 'overload_manager',
    'enable_dispatcher_stats', 'header_prefix', 'stats_server_version_override', 'use_tcp_for_dns_lookups',
    'dns_resolution_config', 'typed_dns_resolver_config', 'bootstrap_extensions', 'fatal_actions', 'config_sources',
    'default_config_source', 'default_socket_interface', 'certificate_provider_instances', 'inline_headers',
    'perf_tracing_file_path', 'default_regex_engine', 'xds_delegate_extension', 'xds_config_tracker_extension',
    'listener_manager', 'application_log_config', 'grpc_async_client_manager_config', 'memory_allocator_manager',
  ],
  build(f) {
    return { ...f, static_resources: f.static_resources ?? { listeners: [], clusters: [] } };
  },
});
