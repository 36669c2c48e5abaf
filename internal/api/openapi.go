package api

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/phoenix/platform/internal/apierror"
)

// OpenAPI returns the OpenAPI 3.1 document of the API, built from the same
// route table as the handlers.
func (a *API) OpenAPI() map[string]any {
	g := &schemaGen{defs: map[string]any{}}
	paths := map[string]any{}
	pathParam := regexp.MustCompile(`\{([a-z_]+)\}`)
	for _, rt := range a.routes {
		op := map[string]any{
			"summary":     rt.Summary,
			"operationId": operationID(rt),
			"tags":        []string{rt.Tag},
			"security":    []any{map[string]any{"bearer": []string{}}},
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range rt.Query {
			params = append(params, map[string]any{"name": q, "in": "query", "schema": map[string]any{"type": "string"}})
		}
		if rt.Method == "PATCH" || rt.Method == "PUT" {
			params = append(params, map[string]any{"name": "If-Match", "in": "header", "description": "ETag of the version read", "schema": map[string]any{"type": "string"}})
		}
		if rt.Idempotent {
			params = append(params, map[string]any{"name": "Idempotency-Key", "in": "header", "description": "replays the first response for a repeated request", "schema": map[string]any{"type": "string", "maxLength": 255}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.Request != nil {
			op["requestBody"] = map[string]any{
				"required": rt.Method != "POST" || !strings.Contains(rt.Path, "}/"),
				"content":  map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.Request))}},
			}
		}
		status := rt.Status
		if status == 0 {
			status = http.StatusOK
		}
		resp := map[string]any{"description": http.StatusText(status)}
		if rt.Response != nil && status != http.StatusNoContent {
			resp["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.Response))}}
		}
		responses := map[string]any{fmt.Sprint(status): resp, "default": map[string]any{"$ref": "#/components/responses/Error"}}
		op["responses"] = responses
		item, _ := paths[rt.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.Path] = item
		}
		item[strings.ToLower(rt.Method)] = op
	}
	errSchema := g.schema(reflect.TypeOf(envelope{}))
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "Phoenix API",
			"version":     "v1",
			"description": "A/B test OpenTelemetry Collector pipeline strategies for process metrics, prove the savings, and roll the winner out.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas":         g.defs,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "API key phx_..."}},
			"responses": map[string]any{"Error": map[string]any{
				"description": "error: " + strings.Join(codes(), ", "),
				"content":     map[string]any{"application/json": map[string]any{"schema": errSchema}},
			}},
		},
	}
}

func codes() []string {
	return []string{string(apierror.CodeValidation), string(apierror.CodeNotFound), string(apierror.CodeConflict),
		string(apierror.CodePrecondition), string(apierror.CodeUnauthorized), string(apierror.CodeForbidden),
		string(apierror.CodeTooLarge), string(apierror.CodeUnsupported), string(apierror.CodeRateLimited),
		string(apierror.CodeUnavailable), string(apierror.CodeInternal)}
}

func operationID(rt *route) string {
	parts := []string{strings.ToLower(rt.Method)}
	for _, p := range strings.Split(strings.TrimPrefix(rt.Path, "/api/v1/"), "/") {
		if strings.HasPrefix(p, "{") {
			p = "by_" + strings.Trim(p, "{}")
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "_")
}

// schemaGen turns Go types into JSON Schemas, naming each struct once under
// components/schemas.
type schemaGen struct{ defs map[string]any }

var (
	timeType = reflect.TypeOf(time.Time{})
	rawType  = reflect.TypeOf(json.RawMessage{})
	durType  = reflect.TypeOf(time.Duration(0))
)

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{}
	case t == durType || (t.Name() == "Duration" && t.Kind() == reflect.Int64):
		return map[string]any{"type": "string", "description": "Go duration, e.g. 5m"}
	}
	if t.Implements(reflect.TypeOf((*json.Marshaler)(nil)).Elem()) && t.Kind() != reflect.Struct {
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint64, reflect.Uint32, reflect.Uint:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := schemaName(t)
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = map[string]any{} // placeholder against recursion
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

func schemaName(t reflect.Type) string {
	pkg := t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+1:]
	name := t.Name()
	if pkg == "api" || name == "" {
		if name == "" {
			return "Anonymous"
		}
		return name
	}
	return strings.ToUpper(pkg[:1]) + pkg[1:] + name
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft)
					continue
				}
			}
			if name == "" {
				name = f.Name
			}
			props[name] = g.schema(f.Type)
			if !strings.Contains(opts, "omitempty") && f.Type.Kind() != reflect.Pointer {
				required = append(required, name)
			}
		}
	}
	walk(t)
	out := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		sort.Strings(required)
		out["required"] = required
	}
	return out
}

func (a *API) serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(a.OpenAPI())
}

var referencePage = template.Must(template.New("ref").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Phoenix API reference</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
code{background:#f3f3f3;padding:0 .2rem}td{padding:.2rem .6rem;vertical-align:top}</style></head>
<body><h1>Phoenix API reference</h1>
<p>Every endpoint needs <code>Authorization: Bearer phx_…</code>. Errors are
<code>{"error": {"code", "message", "details", "fields"}, "request_id"}</code>.
The machine-readable document is <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p>
<table>{{range .}}<tr><td><code>{{.Method}}</code></td><td><code>{{.Path}}</code></td><td>{{.Summary}}</td><td>{{.Resource}}:{{.Action}}</td></tr>{{end}}</table>
</body></html>`))

func (a *API) serveReference(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = referencePage.Execute(w, a.routes)
}
