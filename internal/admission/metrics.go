package admission

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the webhook's Prometheus metrics, on a registry of their
// own. A nil *Metrics counts nothing.
type Metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	verdicts  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	cacheHits *prometheus.CounterVec
	tagHits   *prometheus.CounterVec
}

// NewMetrics returns the metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmark_admission_requests_total",
			Help: "Admission requests, by webhook (validate, mutate, policy) and resource.",
		}, []string{"webhook", "resource"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmark_admission_verdicts_total",
			Help: "Admission answers, by webhook and verdict (allow, warn, deny).",
		}, []string{"webhook", "verdict"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hallmark_admission_request_duration_seconds",
			Help:    "Time to answer an admission request, by webhook.",
			Buckets: []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"webhook"}),
		cacheHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmark_admission_verdict_cache_total",
			Help: "Verdict cache lookups, by result (hit, miss).",
		}, []string{"result"}),
		tagHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmark_admission_tag_cache_total",
			Help: "Tag cache lookups of the mutating webhook, by result (hit, miss).",
		}, []string{"result"}),
	}
	m.reg.MustRegister(m.requests, m.verdicts, m.latency, m.cacheHits, m.tagHits)
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *Metrics) request(webhook, resource string) {
	if m != nil {
		m.requests.WithLabelValues(webhook, resource).Inc()
	}
}

func (m *Metrics) answered(webhook, verdict string, took time.Duration) {
	if m != nil {
		m.verdicts.WithLabelValues(webhook, verdict).Inc()
		m.latency.WithLabelValues(webhook).Observe(took.Seconds())
	}
}

func (m *Metrics) cacheHit() {
	if m != nil {
		m.cacheHits.WithLabelValues("hit").Inc()
	}
}

func (m *Metrics) cacheMiss() {
	if m != nil {
		m.cacheHits.WithLabelValues("miss").Inc()
	}
}

func (m *Metrics) tagLookup(result string) {
	if m != nil {
		m.tagHits.WithLabelValues(result).Inc()
	}
}
