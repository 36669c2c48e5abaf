package agent

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

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
	// meters are the measured pipelines: pipeline name -> the identity of
	// its output meter.
	meters map[string]meterID
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

// meterType is the component type of the Phoenix meter.
const meterType = "phoenix_meter"

// measuredPipelines returns, for each metrics pipeline of a collector
// configuration that holds a phoenix_meter with stage: output, the
// identity of that meter.
func measuredPipelines(collector []byte) (map[string]meterID, error) {
	var doc struct {
		Processors map[string]map[string]any `yaml:"processors"`
		Service    struct {
			Pipelines map[string]struct {
				Processors []string `yaml:"processors"`
			} `yaml:"pipelines"`
		} `yaml:"service"`
	}
	if err := yaml.Unmarshal(collector, &doc); err != nil {
		return nil, fmt.Errorf("decode %s: %w", CollectorConfigFile, err)
	}
	out := map[string]meterID{}
	for name, p := range doc.Service.Pipelines {
		if typ, _, _ := strings.Cut(name, "/"); typ != "metrics" {
			continue
		}
		for _, id := range p.Processors {
			if typ, _, _ := strings.Cut(id, "/"); typ != meterType {
				continue
			}
			cfg := doc.Processors[id]
			if str(cfg["stage"]) != "output" {
				continue
			}
			out[name] = meterID{experiment: str(cfg["experiment"]), variant: str(cfg["variant"])}
		}
	}
	return out, nil
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

// outputDatapointsMetric is the counter whose growth shows a measured
// pipeline works.
const outputDatapointsMetric = "phoenix_pipeline_output_datapoints_total"

// outputDatapoints sums phoenix_pipeline_output_datapoints_total by meter
// identity over hosts.
func outputDatapoints(g prometheus.Gatherer) (map[meterID]float64, error) {
	mfs, err := g.Gather()
	out := map[meterID]float64{}
	for _, mf := range mfs {
		if mf.GetName() != outputDatapointsMetric {
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
			out[id] += m.GetCounter().GetValue()
		}
	}
	if err != nil && len(out) == 0 {
		return out, fmt.Errorf("gather measurements: %w", err)
	}
	return out, nil
}

// silentPipelines returns the measured pipelines of meters whose counter
// has not grown past base, sorted.
func silentPipelines(meters map[string]meterID, base, now map[meterID]float64) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(meters)) {
		id := meters[name]
		if now[id] <= base[id] {
			out = append(out, name)
		}
	}
	return out
}
