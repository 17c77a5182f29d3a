package matrix

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// schemaValidator checks a decoded JSON value against the subset of JSON
// Schema that matrix.schema.json uses: type, const, enum, properties,
// required, additionalProperties, items, $ref into $defs, minLength,
// minimum, allOf and if/then. A keyword it does not know fails the test,
// so the schema cannot silently grow past what is checked.
type schemaValidator struct {
	root map[string]any
	errs []string
}

var knownKeywords = map[string]bool{
	"$schema": true, "$id": true, "title": true, "description": true, "format": true, "$defs": true,
	"type": true, "const": true, "enum": true, "properties": true, "required": true,
	"additionalProperties": true, "items": true, "$ref": true, "minLength": true, "minimum": true,
	"allOf": true, "if": true, "then": true,
}

func (sv *schemaValidator) fail(path, format string, args ...any) {
	sv.errs = append(sv.errs, path+": "+fmt.Sprintf(format, args...))
}

// check records every way v is invalid against s and reports whether it is valid.
func (sv *schemaValidator) check(s map[string]any, v any, path string) bool {
	before := len(sv.errs)
	for k := range s {
		if !knownKeywords[k] {
			sv.fail(path, "schema keyword %q not supported by the test validator", k)
		}
	}
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/$defs/")
		def, ok := sv.root["$defs"].(map[string]any)[name].(map[string]any)
		if !ok {
			sv.fail(path, "unresolved $ref %s", ref)
		} else {
			sv.check(def, v, path)
		}
	}
	if t, ok := s["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, x.(string))
			}
		}
		match := false
		for _, ty := range types {
			match = match || hasType(v, ty)
		}
		if !match {
			sv.fail(path, "type %T, want %v", v, types)
		}
	}
	if c, ok := s["const"]; ok && !reflect.DeepEqual(c, v) {
		sv.fail(path, "%v, want %v", v, c)
	}
	if e, ok := s["enum"].([]any); ok {
		found := false
		for _, x := range e {
			found = found || reflect.DeepEqual(x, v)
		}
		if !found {
			sv.fail(path, "%v not in %v", v, e)
		}
	}
	if n, ok := s["minLength"].(float64); ok {
		if str, isStr := v.(string); isStr && float64(utf8.RuneCountInString(str)) < n {
			sv.fail(path, "shorter than %v", n)
		}
	}
	if n, ok := s["minimum"].(float64); ok {
		if f, isNum := v.(float64); isNum && f < n {
			sv.fail(path, "%v below minimum %v", f, n)
		}
	}
	if obj, isObj := v.(map[string]any); isObj {
		props, _ := s["properties"].(map[string]any)
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if _, ok := obj[r.(string)]; !ok {
					sv.fail(path, "missing required %q", r)
				}
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k].(map[string]any); ok {
				sv.check(ps, obj[k], path+"."+k)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					sv.fail(path, "unknown property %q", k)
				}
			case map[string]any:
				sv.check(ap, obj[k], path+"."+k)
			}
		}
	}
	if arr, isArr := v.([]any); isArr {
		if items, ok := s["items"].(map[string]any); ok {
			for i, x := range arr {
				sv.check(items, x, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			sv.check(sub.(map[string]any), v, path)
		}
	}
	if cond, ok := s["if"].(map[string]any); ok {
		probe := &schemaValidator{root: sv.root}
		if probe.check(cond, v, path) {
			if then, ok := s["then"].(map[string]any); ok {
				sv.check(then, v, path)
			}
		}
	}
	return len(sv.errs) == before
}

func hasType(v any, t string) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f)
	case "null":
		return v == nil
	}
	return false
}

// validateAgainstSchema validates a matrix.json document against matrix.schema.json.
func validateAgainstSchema(t *testing.T, doc []byte) []string {
	t.Helper()
	var root map[string]any
	require.NoError(t, json.Unmarshal(JSONSchema, &root))
	var v any
	require.NoError(t, json.Unmarshal(doc, &v))
	sv := &schemaValidator{root: root}
	sv.check(root, v, "$")
	return sv.errs
}

func TestSchemaValidatorCatches(t *testing.T) {
	good, err := JSON(minimalMatrix())
	require.NoError(t, err)
	require.Empty(t, validateAgainstSchema(t, good))
	for _, tc := range []struct{ name, from, to, want string }{
		{"unknown field", `"schema": 1,`, `"schema": 1, "extra": 1,`, `unknown property "extra"`},
		{"bad status", `"status": "supported"`, `"status": "yes"`, "not in"},
		{"unsupported without reason", `"status": "unsupported",
          "reason": {
            "kind": "version",`, `"status": "unsupported",
          "reasonx": {
            "kind": "version",`, `missing required "reason"`},
		{"inconclusive without error", `"error": "load program: some error"`, `"value": "x"`, `missing required "error"`},
		{"present without value", `"value": "present, not probed`, `"error": "present, not probed`, `missing required "value"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(string(good), tc.from, tc.to, 1)
			require.NotEqual(t, string(good), bad, "mutation must apply")
			errs := validateAgainstSchema(t, []byte(bad))
			assert.NotEmpty(t, errs)
			assert.Contains(t, strings.Join(errs, "\n"), tc.want)
		})
	}
}

// TestSchemaEnums keeps the schema's enums equal to what Validate accepts.
func TestSchemaEnums(t *testing.T) {
	var root map[string]any
	require.NoError(t, json.Unmarshal(JSONSchema, &root))
	defs := root["$defs"].(map[string]any)
	enum := func(def, prop string) []string {
		var out []string
		for _, v := range defs[def].(map[string]any)["properties"].(map[string]any)[prop].(map[string]any)["enum"].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	var kinds, statuses, reasons []string
	for _, k := range kindOrder {
		kinds = append(kinds, string(k))
	}
	for s := range validStatus {
		statuses = append(statuses, string(s))
	}
	for r := range validReason {
		reasons = append(reasons, string(r))
	}
	for r := range verifierOnlyReason {
		reasons = append(reasons, string(r))
	}
	assert.ElementsMatch(t, kinds, enum("feature", "kind"))
	assert.ElementsMatch(t, statuses, enum("feature", "status"))
	assert.ElementsMatch(t, reasons, enum("reason", "kind"))
}

// TestSchemaCoversTypes keeps matrix.schema.json and internal/result in
// step: every JSON field of the Go types is a property in the schema and
// every schema property is a Go field.
func TestSchemaCoversTypes(t *testing.T) {
	var root map[string]any
	require.NoError(t, json.Unmarshal(JSONSchema, &root))
	defs := root["$defs"].(map[string]any)
	for _, tc := range []struct {
		def string
		typ reflect.Type
	}{
		{"", reflect.TypeFor[result.Matrix]()},
		{"kernel_result", reflect.TypeFor[result.KernelResult]()},
		{"kernel", reflect.TypeFor[result.Kernel]()},
		{"feature", reflect.TypeFor[result.Feature]()},
		{"reason", reflect.TypeFor[result.Reason]()},
		{"verifier_outcome", reflect.TypeFor[result.VerifierOutcome]()},
		{"bpftool_check", reflect.TypeFor[result.BpftoolCheck]()},
		{"bpftool_cause", reflect.TypeFor[result.BpftoolCause]()},
	} {
		t.Run(tc.typ.Name(), func(t *testing.T) {
			s := root
			if tc.def != "" {
				s = defs[tc.def].(map[string]any)
			}
			var schemaProps []string
			for k := range s["properties"].(map[string]any) {
				schemaProps = append(schemaProps, k)
			}
			var goFields []string
			for f := range tc.typ.Fields() {
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if name != "" && name != "-" {
					goFields = append(goFields, name)
				}
			}
			assert.ElementsMatch(t, goFields, schemaProps)
		})
	}
}
