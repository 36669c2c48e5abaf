package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix/platform/internal/api"
	"github.com/phoenix/platform/internal/client"
	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/pipeline"
)

func newPipelineCommand() *cobra.Command {
	cmd := newGroup("pipeline", "List, inspect, validate and deploy pipelines",
		`Pipelines are the catalog's strategies (process-baseline-v1, process-topk-v1,
...) and the tenant's own pipeline documents. A deployment rolls one out, as
the active pipeline, to the hosts whose agent labels a selector matches.`)
	addClientFlags(cmd.PersistentFlags())
	registerOutputCompletion(cmd)
	cmd.AddCommand(newPipelineListCommand(), newPipelineShowCommand(), newPipelineValidateCommand(),
		newPipelineDeployCommand(), newPipelineStatusCommand(), newPipelineGetConfigCommand(),
		newDeploymentRollbackCommand("rollback DEPLOYMENT"))
	return cmd
}

// pipelineListResult is what pipeline list reports with --output json|yaml.
type pipelineListResult struct {
	Catalog   []*pipeline.Template `json:"catalog"`
	Pipelines []api.Pipeline       `json:"pipelines"`
}

func newPipelineListCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the catalog's pipelines and the tenant's own",
		Args:  usageArgs(cobra.NoArgs),
	}
	cmd.RunE = runE(func(a *app, _ []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		cat, err := c.CatalogList(a.ctx)
		if err != nil {
			return err
		}
		out := pipelineListResult{Catalog: cat.Items, Pipelines: []api.Pipeline{}}
		for p, err := range c.PipelineAll(a.ctx, client.PipelineListParams{Limit: 500}) {
			if err != nil {
				return err
			}
			out.Pipelines = append(out.Pipelines, p)
		}
		return a.render(out, func(w io.Writer) error {
			tw := newTable(w)
			row(tw, "NAME", "SOURCE", "VERSION", "STRATEGY", "DESCRIPTION")
			for _, t := range out.Catalog {
				row(tw, t.Name, "catalog", t.Version, t.Strategy, truncate(t.Description, 60))
			}
			for _, p := range out.Pipelines {
				row(tw, p.Name, "user", fmt.Sprintf("v%d", p.Version), "-", truncate(dash(p.Description), 60))
			}
			return tw.Flush()
		})
	})
	return cmd
}

func newPipelineShowCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:               "show NAME",
		Short:             "Show a pipeline: a catalog strategy's parameters, or a user pipeline's document",
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: completePipelines,
	}
	cmd.RunE = runE(func(a *app, args []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		name := args[0]
		t, err := c.CatalogGet(a.ctx, name)
		if err == nil {
			return a.render(t, func(w io.Writer) error { return showTemplate(w, t) })
		}
		if !client.IsNotFound(err) {
			return err
		}
		p, err := findPipeline(a, c, name)
		if err != nil {
			return err
		}
		return a.render(p, func(w io.Writer) error {
			tw := newTable(w)
			row(tw, "Name:", p.Name)
			row(tw, "Source:", "user")
			row(tw, "ID:", p.ID)
			row(tw, "Version:", fmt.Sprintf("v%d", p.Version))
			row(tw, "Description:", dash(p.Description))
			row(tw, "Created:", fmtTime(p.CreatedAt)+" by "+dash(p.CreatedBy))
			row(tw, "Updated:", fmtTime(p.UpdatedAt))
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(w, "\nDocument:")
			for _, line := range strings.Split(strings.TrimRight(p.YAML, "\n"), "\n") {
				fmt.Fprintln(w, "  "+line)
			}
			return nil
		})
	})
	return cmd
}

// findPipeline finds a user pipeline by name, else by ID.
func findPipeline(a *app, c *client.Client, nameOrID string) (*api.Pipeline, error) {
	for p, err := range c.PipelineAll(a.ctx, client.PipelineListParams{NamePrefix: nameOrID, Limit: 500}) {
		if err != nil {
			return nil, err
		}
		if p.Name == nameOrID {
			return &p, nil
		}
	}
	p, err := c.PipelineGet(a.ctx, nameOrID)
	if client.IsNotFound(err) {
		return nil, &failure{msg: fmt.Sprintf("no catalog or user pipeline named %q\n  hint: list them with: phoenix pipeline list", nameOrID), err: err}
	}
	return p, err
}

func showTemplate(w io.Writer, t *pipeline.Template) error {
	tw := newTable(w)
	row(tw, "Name:", t.Name)
	row(tw, "Source:", "catalog")
	row(tw, "Version:", t.Version)
	row(tw, "Strategy:", t.Strategy)
	row(tw, "Expected reduction:", dash(t.ExpectedReduction))
	row(tw, "Description:", t.Description)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(t.Params) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = newTable(w)
	row(tw, "PARAMETER", "TYPE", "DEFAULT", "ALLOWED", "DESCRIPTION")
	for _, p := range t.Params {
		def := "(required)"
		if p.Default != nil {
			def = fmtValue(p.Default)
		}
		row(tw, p.Name, string(p.Type), def, dash(paramBounds(p)), p.Description)
	}
	return tw.Flush()
}

// paramBounds renders what values a parameter accepts.
func paramBounds(p pipeline.Param) string {
	if len(p.Values) > 0 {
		return strings.Join(p.Values, "|")
	}
	unit := ""
	switch p.Type {
	case pipeline.ParamRegexList:
		unit = " patterns"
	case pipeline.ParamString:
		unit = " chars"
	}
	switch {
	case p.Min != nil && p.Max != nil:
		return fmtValue(p.Min) + ".." + fmtValue(p.Max) + unit
	case p.Min != nil:
		return ">= " + fmtValue(p.Min) + unit
	case p.Max != nil:
		return "<= " + fmtValue(p.Max) + unit
	}
	return ""
}

// validateResult is what pipeline validate reports with --output json|yaml.
type validateResult struct {
	File   string                `json:"file"`
	Valid  bool                  `json:"valid"`
	Errors []pipeline.FieldError `json:"errors"`
}

func newPipelineValidateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a pipeline document or a collector config offline (FILE - reads standard input)",
		Long: `Check a file without a server, with the same checks the server runs:

  - a Phoenix pipeline document (name, processors, critical_processes);
  - a catalog reference (catalog, params);
  - a stock OpenTelemetry Collector config (receivers, processors,
    exporters, service), checked like otelcol validate.

Every problem is printed with the path of its field. The exit status is 1
when the file is invalid.`,
		Example: `  phoenix pipeline validate my-pipeline.yaml
  phoenix pipeline validate - < otelcol.yaml`,
		Args: usageArgs(cobra.ExactArgs(1)),
	}
	cmd.RunE = runE(func(a *app, args []string) error {
		file := args[0]
		var doc []byte
		var err error
		if file == "-" {
			doc, err = io.ReadAll(a.in)
			file = "standard input"
		} else {
			doc, err = os.ReadFile(file)
		}
		if err != nil {
			return &UsageError{Err: fmt.Errorf("read %s: %w", file, err)}
		}
		res := validateResult{File: file, Valid: true, Errors: []pipeline.FieldError{}}
		verr := pipeline.Validate(doc)
		var ve *pipeline.ValidationError
		switch {
		case verr == nil:
		case errors.As(verr, &ve):
			res.Valid, res.Errors = false, ve.Errors
		default:
			res.Valid, res.Errors = false, []pipeline.FieldError{{Message: verr.Error()}}
		}
		if err := a.render(res, func(w io.Writer) error {
			if res.Valid {
				_, err := fmt.Fprintf(w, "%s is valid.\n", file)
				return err
			}
			return nil
		}); err != nil {
			return err
		}
		if res.Valid {
			return nil
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s is not valid (%d problem", file, len(res.Errors))
		if len(res.Errors) != 1 {
			b.WriteString("s")
		}
		b.WriteString("):")
		for _, fe := range res.Errors {
			path := fe.Path
			if path == "" {
				path = "(document)"
			}
			fmt.Fprintf(&b, "\n  %s: %s", path, strings.ReplaceAll(fe.Message, "\n", "\n    "))
		}
		return &failure{msg: b.String(), err: verr}
	})
	return cmd
}

func newPipelineDeployCommand() *cobra.Command {
	var (
		selector, params []string
		name             string
		batch            int
		growth           float64
		gate, timeout    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "deploy PIPELINE --selector KEY=VALUE... [--param NAME=VALUE]...",
		Short: "Roll a pipeline out as the active pipeline of the hosts a selector matches",
		Long: `Roll a pipeline out, in batches, as the active pipeline of the hosts whose
agent labels match every --selector label (host.name matches the host name).
The first batch has --batch-size hosts; each healthy batch multiplies the
next by --growth. A batch whose hosts do not all report applied and healthy
within --batch-timeout (plus the health gate) is rolled back.`,
		Example: `  phoenix pipeline deploy process-topk-v1 --selector env=prod --param k=30
  phoenix pipeline deploy process-priority-filter-v1 --selector host.name=web-1 \
      --param 'critical_processes=^nginx$' --param 'critical_processes=^java$'`,
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: completePipelines,
	}
	f := cmd.Flags()
	f.StringArrayVar(&selector, "selector", nil, "agent label KEY=VALUE the hosts must have (repeatable; required)")
	f.StringArrayVar(&params, "param", nil, "pipeline parameter NAME=VALUE (repeatable; a repeated NAME makes a list)")
	f.StringVar(&name, "name", "", "name of the deployment")
	f.IntVar(&batch, "batch-size", 0, "hosts in the first batch (default 1)")
	f.Float64Var(&growth, "growth", 0, "factor by which each healthy batch grows the next (default 5)")
	f.DurationVar(&gate, "health-gate", 0, "how long a batch must stay healthy before the next (default 30s)")
	f.DurationVar(&timeout, "batch-timeout", 0, "how long a batch may take to report applied and healthy before the rollout is rolled back (default 5m)")
	cmd.RunE = runE(func(a *app, args []string) error {
		sel, err := parsePairs("selector", selector)
		if err != nil {
			return err
		}
		if len(sel) == 0 {
			return &UsageError{Err: errors.New("--selector KEY=VALUE is required, e.g. --selector host.name=web-1")}
		}
		p, err := parseParams("param", params)
		if err != nil {
			return err
		}
		if batch < 0 {
			return &UsageError{Err: errors.New("--batch-size must not be negative")}
		}
		c, err := a.client()
		if err != nil {
			return err
		}
		d, err := c.DeploymentCreate(a.ctx, api.DeploymentCreate{
			Name:     name,
			Pipeline: experiment.PipelineRef{Name: args[0], Params: p},
			Selector: sel,
			Rollout:  api.Rollout{BatchSize: batch, Growth: growth, HealthGate: experiment.Duration(gate), BatchTimeout: experiment.Duration(timeout)},
		})
		if err != nil {
			return err
		}
		return a.render(d, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Deployment %s rolls %s out to hosts matching %s (%s).\nFollow it with: phoenix pipeline status\n",
				d.ID, pipelineRef(d.Pipeline), fmtMap(d.Selector), d.State)
			return err
		})
	})
	return cmd
}

// pipelineRef renders a pipeline reference: name and parameters.
func pipelineRef(r experiment.PipelineRef) string {
	if len(r.Params) == 0 {
		return r.Name
	}
	return r.Name + " (" + fmtMap(r.Params) + ")"
}

// listDeployments renders the deployments matching p whose selector
// includes every label of sel.
func listDeployments(a *app, p client.DeploymentListParams, sel map[string]string) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	out := api.DeploymentList{Items: []api.Deployment{}}
	for d, err := range c.DeploymentAll(a.ctx, p) {
		if err != nil {
			return err
		}
		if selectorIncludes(d.Selector, sel) {
			out.Items = append(out.Items, d)
		}
	}
	return a.render(out, func(w io.Writer) error {
		if len(out.Items) == 0 {
			_, err := fmt.Fprintln(w, "No deployments.")
			return err
		}
		tw := newTable(w)
		row(tw, "ID", "PIPELINE", "SELECTOR", "STATE", "EXPERIMENT", "CREATED")
		for _, d := range out.Items {
			row(tw, d.ID, pipelineRef(d.Pipeline), fmtMap(d.Selector), d.State, dash(d.ExperimentID), fmtTime(d.CreatedAt))
		}
		return tw.Flush()
	})
}

func selectorIncludes(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

func newDeploymentCommand() *cobra.Command {
	cmd := newGroup("deployment", "List, inspect and roll back pipeline deployments",
		`A deployment is a pipeline rolled out as the active pipeline of the hosts
a selector matches, by phoenix pipeline deploy or by promoting an
experiment. Rolling one back returns its hosts to the deployment before it.`)
	addClientFlags(cmd.PersistentFlags())
	registerOutputCompletion(cmd)
	list := &cobra.Command{
		Use:   "list",
		Short: "List deployments, newest first",
		Args:  usageArgs(cobra.NoArgs),
	}
	var states []string
	var pipelineName string
	list.Flags().StringSliceVar(&states, "state", nil, "only deployments in these states")
	list.Flags().StringVar(&pipelineName, "pipeline", "", "only deployments of this pipeline")
	list.RunE = runE(func(a *app, _ []string) error {
		return listDeployments(a, client.DeploymentListParams{States: states, Pipeline: pipelineName, Limit: 500}, nil)
	})
	show := &cobra.Command{
		Use:               "show DEPLOYMENT",
		Short:             "Show a deployment",
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: completeDeployments,
	}
	show.RunE = runE(func(a *app, args []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		d, err := c.DeploymentGet(a.ctx, args[0])
		if err != nil {
			return err
		}
		return a.render(d, func(w io.Writer) error { return showDeployment(w, d) })
	})
	cmd.AddCommand(list, show, newDeploymentRollbackCommand("rollback DEPLOYMENT"))
	return cmd
}

func showDeployment(w io.Writer, d *api.Deployment) error {
	tw := newTable(w)
	row(tw, "ID:", d.ID)
	row(tw, "Name:", dash(d.Name))
	row(tw, "Pipeline:", pipelineRef(d.Pipeline))
	row(tw, "Selector:", fmtMap(d.Selector))
	row(tw, "State:", d.State)
	row(tw, "Rollout:", dash(strings.TrimSpace(string(d.Rollout))))
	row(tw, "Previous:", dash(d.PreviousID))
	row(tw, "Experiment:", dash(d.ExperimentID))
	row(tw, "Created:", fmtTime(d.CreatedAt)+" by "+dash(d.CreatedBy))
	row(tw, "Updated:", fmtTime(d.UpdatedAt))
	return tw.Flush()
}

func newDeploymentRollbackCommand(use string) *cobra.Command {
	cmd := &cobra.Command{
		Use:               use,
		Short:             "Roll a deployment back: its hosts return to the deployment before it",
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: completeDeployments,
	}
	cmd.RunE = runE(func(a *app, args []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		d, err := c.DeploymentRollback(a.ctx, args[0])
		if err != nil {
			return err
		}
		return a.render(d, func(w io.Writer) error {
			back := "the pipeline they ran before it"
			if d.PreviousID != "" {
				back = "deployment " + d.PreviousID
			}
			_, err := fmt.Fprintf(w, "Rolled back deployment %s (%s on hosts matching %s): %s.\nIts hosts return to %s.\n",
				d.ID, pipelineRef(d.Pipeline), fmtMap(d.Selector), d.State, back)
			return err
		})
	})
	return cmd
}
