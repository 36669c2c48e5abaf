package pipeline_test

import (
	"fmt"

	"github.com/phoenix/platform/internal/pipeline"
)

func ExampleValidate() {
	err := pipeline.Validate([]byte(`
name: my-pipeline
processors:
  - filter/drop-low:
      metrics:
        resource: ['resource.attributes["phoenix.priority"] == "low"']
  - batch:
  - filter/drop-low: {}
`))
	fmt.Println(err)
	// Output:
	// processors[1]: processor type "batch" is not allowed in a pipeline: Phoenix adds batch after the output meter
	// processors[2]: duplicate processor id "filter/drop-low" (also processors[0]); give each a distinct /name
}

func ExampleTemplate_Render() {
	tmpl, _ := pipeline.Default().Get("process-topk-v1")
	doc, err := tmpl.Render(map[string]any{"k": 5, "critical_processes": []string{"^nginx$"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range doc.Processors {
		fmt.Println(p.ID)
	}
	_, err = tmpl.Render(map[string]any{"k": 0})
	fmt.Println(err)
	// Output:
	// phoenix_priority
	// phoenix_topk
	// params.k: must be between 1 and 1000, got 0
}
