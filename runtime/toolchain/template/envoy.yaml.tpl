# Runs the {{name}} filter in front of an upstream HTTP server on 127.0.0.1:8080.
#   npx sluice run -c envoy.yaml           (Envoy: envoy -c envoy.yaml, from this directory)
#   curl -i http://127.0.0.1:10000/        -> x-hello: world
# The admin API on 127.0.0.1:9901 is what `npx sluice deploy` talks to.
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: 9901 }

static_resources:
  listeners:
    - name: ingress
      address:
        socket_address: { address: 127.0.0.1, port_value: 10000 }
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: ingress_http
                route_config:
                  name: local_route
                  virtual_hosts:
                    - name: upstream
                      domains: ["*"]
                      routes:
                        - match: { prefix: "/" }
                          route: { cluster: upstream }
                http_filters:
                  - name: "{{name}}"
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
                      config:
                        name: "{{name}}"            # the NAME in `sluice deploy NAME ...`
                        root_id: "{{rootId}}"         # registerRootContext(..., "{{rootId}}")
                        configuration:
                          "@type": type.googleapis.com/google.protobuf.StringValue
                          value: '{"header":"x-hello","value":"world"}'
                        vm_config:
                          runtime: envoy.wasm.runtime.v8
                          code: { local: { filename: build/{{name}}.wasm } }
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router

  clusters:
    - name: upstream
      type: STATIC
      connect_timeout: 1s
      load_assignment:
        cluster_name: upstream
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: { address: 127.0.0.1, port_value: 8080 }
