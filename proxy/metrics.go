package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the proxy's Prometheus metrics (all prefixed
// condatrust_proxy_).
type metrics struct {
	requests       *prometheus.CounterVec   // route, code
	refusals       *prometheus.CounterVec   // channel, rule
	cache          *prometheus.CounterVec   // result: hit, miss
	bytesServed    *prometheus.CounterVec   // route
	upstreamErrors *prometheus.CounterVec   // channel, kind
	verifySeconds  *prometheus.HistogramVec // channel
	records        *prometheus.GaugeVec     // channel, subdir, status
}

// sigCacheCollector exports the signature cache's lookups.
type sigCacheCollector struct {
	c    *sigCache
	desc *prometheus.Desc
}

func newSigCacheCollector(c *sigCache) *sigCacheCollector {
	return &sigCacheCollector{c: c, desc: prometheus.NewDesc("condatrust_proxy_signature_cache_total",
		"Signature checks answered by the verified-signature cache (hit) or by Ed25519 verification (miss).", []string{"result"}, nil)}
}

func (s *sigCacheCollector) Describe(ch chan<- *prometheus.Desc) { ch <- s.desc }

func (s *sigCacheCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(s.desc, prometheus.CounterValue, float64(s.c.hits.Load()), "hit")
	ch <- prometheus.MustNewConstMetric(s.desc, prometheus.CounterValue, float64(s.c.misses.Load()), "miss")
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "condatrust", Subsystem: "proxy", Name: "requests_total",
			Help: "Requests answered, by route (repodata, package, metadata, shards, other, healthz, metrics) and HTTP status.",
		}, []string{"route", "code"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "condatrust", Subsystem: "proxy", Name: "refusals_total",
			Help: "Records, packages and trust metadata refused, by channel and rule (content-trust rules, and legacy-signature for legacy conda sign channels).",
		}, []string{"channel", "rule"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "condatrust", Subsystem: "proxy", Name: "package_cache_total",
			Help: "Package requests served from the cache (hit) or downloaded and verified first (miss).",
		}, []string{"result"}),
		bytesServed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "condatrust", Subsystem: "proxy", Name: "bytes_served_total",
			Help: "Response body bytes written to clients, by route.",
		}, []string{"route"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "condatrust", Subsystem: "proxy", Name: "upstream_errors_total",
			Help: "Upstream failures, by channel and kind (timeout, http-5xx, http-status, too-large, redirect, unreachable, network, malformed).",
		}, []string{"channel", "kind"}),
		verifySeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "condatrust", Subsystem: "proxy", Name: "verification_seconds",
			Help:    "Time to verify one upstream repodata document, by channel.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"channel"}),
		records: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "condatrust", Subsystem: "proxy", Name: "records",
			Help: "Records of the last verified repodata, by channel, subdir and status (trusted, untrusted, unsigned; unverified for a legacy conda sign channel).",
		}, []string{"channel", "subdir", "status"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.refusals, m.cache, m.bytesServed, m.upstreamErrors, m.verifySeconds, m.records} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
