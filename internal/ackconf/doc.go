// Package ackconf parses the configuration that ACK's network add-ons keep in
// ConfigMaps: Terway's eni-config, Flannel's kube-flannel-cfg, kube-proxy's
// KubeProxyConfiguration and CoreDNS's Corefile, plus ACK image version tags.
//
// Every parser is pure and tolerant in the same way the component that reads
// the config is tolerant: Terway ignores unknown keys, kube-proxy does not.
package ackconf
