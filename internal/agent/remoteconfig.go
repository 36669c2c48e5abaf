package agent

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"
)

// remoteConfig is one configuration the agent can run: the two files of
// a remote configuration and what the agent reads from them.
type remoteConfig struct {
	// hash is the server's ConfigHash; nil for the initial configuration.
	hash       []byte
	collector  []byte
	phoenixRaw []byte
	phoenix    PhoenixConfig
	// meters are the measured pipelines by pipeline name.
	meters map[string]measured
	// err says why the files cannot be run; a configuration with err is
	// reported FAILED without touching the running collector.
	err error
}

// meterID is the experiment and variant of a phoenix_meter; the
// counters of one identity, summed over hosts, belong to one pipeline.
type meterID struct{ experiment, variant string }

// newRemoteConfig parses the files of a configuration.
func newRemoteConfig(hash, collector, phoenix []byte) *remoteConfig {
	c := &remoteConfig{hash: hash, collector: collector, phoenixRaw: phoenix}
	var errs []error
	if len(strings.TrimSpace(string(collector))) == 0 {
		errs = append(errs, fmt.Errorf("%s: missing or empty", CollectorConfigFile))
	} else {
		m, err := measuredPipelines(collector)
		if err != nil {
			errs = append(errs, err)
		}
		c.meters = m
	}
	p, err := ParsePhoenixConfig(phoenix)
	if err != nil {
		errs = append(errs, err)
	}
	c.phoenix = p
	c.err = errors.Join(errs...)
	return c
}

// fromOpAMP reads an AgentRemoteConfig offered by the server.
func fromOpAMP(rc *protobufs.AgentRemoteConfig) *remoteConfig {
	files := rc.GetConfig().GetConfigMap()
	var col, phx []byte
	if f, ok := files[CollectorConfigFile]; ok {
		col = f.GetBody()
	}
	if f, ok := files[PhoenixConfigFile]; ok {
		phx = f.GetBody()
	}
	c := newRemoteConfig(slices.Clone(rc.GetConfigHash()), col, phx)
	if len(c.hash) == 0 {
		c.err = errors.Join(c.err, errors.New("remote configuration has no config_hash"))
	}
	return c
}

// effective returns the files of c as an OpAMP EffectiveConfig.
func (c *remoteConfig) effective() *protobufs.EffectiveConfig {
	files := map[string]*protobufs.AgentConfigFile{
		CollectorConfigFile: {Body: c.collector, ContentType: ConfigContentType},
	}
	if c.phoenixRaw != nil {
		files[PhoenixConfigFile] = &protobufs.AgentConfigFile{Body: c.phoenixRaw, ContentType: ConfigContentType}
	}
	return &protobufs.EffectiveConfig{ConfigMap: &protobufs.AgentConfigMap{ConfigMap: files}}
}

// Component types and defaults the supervisor reads from a collector
// configuration.
const (
	// meterType is the component type of the Phoenix meter.
	meterType = "phoenix_meter"
	// batchType is the batch processor, which holds data up to its timeout.
	batchType = "batch"
	// defaultBatchTimeout is the batch processor's default timeout.
	defaultBatchTimeout = 200 * time.Millisecond
	// defaultInitialDelay is the scraper controller's default
	// initial_delay: the first scrape comes that long after the start.
	defaultInitialDelay = time.Second
	// settleTime is how long data may take from a pipeline's input meter
	// to its output meter through synchronous processors.
	settleTime = 500 * time.Millisecond
)

// measured is a measured pipeline: one holding a phoenix_meter with
// stage: output. It is what the supervisor watches to tell that a new
// configuration produces data.
type measured struct {
	// out identifies the output meter.
	out meterID
	// in identifies the input meter (stage: input) before it, when hasIn.
	in    meterID
	hasIn bool
	// interval is the shortest collection_interval among the pipeline's
	// receivers, and delay that receiver's initial_delay: the first scrape
	// is due delay after the start, the next ones every interval. Zero
	// when no receiver of the pipeline states a collection_interval.
	interval, delay time.Duration
	// settle is how long data may take from the input meter to the output
	// meter: settleTime plus the timeout of every batch processor between
	// them.
	settle time.Duration
}

// measuredPipelines returns the measured pipelines of a collector
// configuration: every metrics pipeline holding a phoenix_meter with
// stage: output, by pipeline name.
func measuredPipelines(collector []byte) (map[string]measured, error) {
	var doc struct {
		Receivers  map[string]map[string]any `yaml:"receivers"`
		Processors map[string]map[string]any `yaml:"processors"`
		Service    struct {
			Pipelines map[string]struct {
				Receivers  []string `yaml:"receivers"`
				Processors []string `yaml:"processors"`
			} `yaml:"pipelines"`
		} `yaml:"service"`
	}
	if err := yaml.Unmarshal(collector, &doc); err != nil {
		return nil, fmt.Errorf("decode %s: %w", CollectorConfigFile, err)
	}
	out := map[string]measured{}
	for name, p := range doc.Service.Pipelines {
		if typ, _, _ := strings.Cut(name, "/"); typ != "metrics" {
			continue
		}
		var m measured
		found := false
		var held time.Duration // batch timeouts since the input meter
		for _, id := range p.Processors {
			cfg := doc.Processors[id]
			switch typ, _, _ := strings.Cut(id, "/"); {
			case typ == batchType:
				held += durationOr(cfg["timeout"], defaultBatchTimeout)
			case typ == meterType && str(cfg["stage"]) == "input":
				m.in, m.hasIn, held = meterID{experiment: str(cfg["experiment"]), variant: str(cfg["variant"])}, true, 0
			case typ == meterType && str(cfg["stage"]) == "output":
				m.out, m.settle, found = meterID{experiment: str(cfg["experiment"]), variant: str(cfg["variant"])}, settleTime+held, true
			}
		}
		if !found {
			continue
		}
		for _, id := range p.Receivers {
			cfg := doc.Receivers[id]
			iv := durationOr(cfg["collection_interval"], 0)
			if iv > 0 && (m.interval == 0 || iv < m.interval) {
				m.interval, m.delay = iv, max(durationOr(cfg["initial_delay"], defaultInitialDelay), 0)
			}
		}
		out[name] = m
	}
	return out, nil
}

// durationOr reads a duration the way the collector does (a string such
// as "10s", or an integer of nanoseconds); def when v is missing or not a
// duration.
func durationOr(v any, def time.Duration) time.Duration {
	switch x := v.(type) {
	case string:
		if d, err := time.ParseDuration(x); err == nil {
			return d
		}
	case int:
		return time.Duration(x)
	}
	return def
}

// scrapeInterval returns the shortest scrape interval of the measured
// pipelines; 0 when none is known.
func scrapeInterval(meters map[string]measured) time.Duration {
	var iv time.Duration
	for _, m := range meters {
		if m.interval > 0 && (iv == 0 || m.interval < iv) {
			iv = m.interval
		}
	}
	return iv
}

func str(v any) string {
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// The counters whose growth shows a measured pipeline works: data points
// seen by its output meter, and by its input meter.
const (
	outputDatapointsMetric = "phoenix_pipeline_output_datapoints_total"
	inputDatapointsMetric  = "phoenix_pipeline_input_datapoints_total"
)

// meterCounts are the data point counters of the meters, summed by meter
// identity over hosts.
type meterCounts struct {
	in, out map[meterID]float64
}

// readMeters gathers the data point counters of every meter.
func readMeters(g prometheus.Gatherer) (meterCounts, error) {
	mfs, err := g.Gather()
	c := meterCounts{in: map[meterID]float64{}, out: map[meterID]float64{}}
	for _, mf := range mfs {
		var into map[meterID]float64
		switch mf.GetName() {
		case outputDatapointsMetric:
			into = c.out
		case inputDatapointsMetric:
			into = c.in
		default:
			continue
		}
		for _, m := range mf.GetMetric() {
			var id meterID
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "experiment":
					id.experiment = l.GetValue()
				case "variant":
					id.variant = l.GetValue()
				}
			}
			into[id] += m.GetCounter().GetValue()
		}
	}
	if err != nil && len(c.out) == 0 && len(c.in) == 0 {
		return c, fmt.Errorf("gather measurements: %w", err)
	}
	return c, nil
}

// outputDatapoints sums phoenix_pipeline_output_datapoints_total by meter
// identity over hosts.
func outputDatapoints(g prometheus.Gatherer) (map[meterID]float64, error) {
	c, err := readMeters(g)
	return c.out, err
}

// silentPipelines returns the measured pipelines of meters whose output
// counter has not grown past base, sorted.
func silentPipelines(meters map[string]measured, base, now map[meterID]float64) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(meters)) {
		id := meters[name].out
		if now[id] <= base[id] {
			out = append(out, name)
		}
	}
	return out
}
