package agtp

import (
	"net/url"
	"sort"
	"strings"
)

// template is a path template such as `/rooms/{room_id}`: each segment a literal (decoded)
// or a parameter name.
type template struct {
	literals []string
	params   []string // "" where the segment is a literal
}

func splitPath(path string) []string {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	path = strings.TrimPrefix(path, "/")
	if path == "" {
		return nil
	}
	return strings.Split(path, "/")
}

// decodeSegment undoes %XX escapes the way the daemon does: a malformed escape stays as
// written.
func decodeSegment(raw string) string {
	if decoded, err := url.PathUnescape(raw); err == nil {
		return decoded
	}
	return raw
}

func parseTemplate(path string) template {
	segments := splitPath(path)
	t := template{literals: make([]string, len(segments)), params: make([]string, len(segments))}
	for i, s := range segments {
		if len(s) > 2 && s[0] == '{' && s[len(s)-1] == '}' {
			t.params[i] = s[1 : len(s)-1]
		} else {
			t.literals[i] = decodeSegment(s)
		}
	}
	return t
}

// shape is the template with parameter names erased: `/rooms/{id}` and `/rooms/{room_id}`
// are the same route.
func (t template) shape() string {
	var b strings.Builder
	for i, literal := range t.literals {
		b.WriteByte('/')
		if t.params[i] != "" {
			b.WriteString("{}")
		} else {
			b.WriteString(literal)
		}
	}
	return b.String()
}

// match returns the parameters of a request path's segments, or false.
func (t template) match(parts []string) (map[string]string, bool) {
	if len(parts) != len(t.literals) {
		return nil, false
	}
	params := map[string]string{}
	for i, part := range parts {
		if t.params[i] == "" {
			if decodeSegment(part) != t.literals[i] {
				return nil, false
			}
		} else {
			if part == "" {
				return nil, false
			}
			params[t.params[i]] = decodeSegment(part)
		}
	}
	return params, true
}

// before: at the first segment where two templates differ, a literal beats a parameter,
// as in the daemon's router.
func (t template) before(other template) bool {
	for i := range t.params {
		mine, theirs := t.params[i] != "", other.params[i] != ""
		if mine != theirs {
			return !mine
		}
	}
	return false
}

// boundEndpoint is a registered endpoint and the handler that serves it.
type boundEndpoint struct {
	Endpoint
	template template
	handler  HandlerFunc
}

// router finds the endpoint the daemon routed a request to.
type router struct {
	byMethod map[string][]*boundEndpoint // most specific first
}

func newRouter(endpoints []*boundEndpoint) *router {
	r := &router{byMethod: map[string][]*boundEndpoint{}}
	for _, e := range endpoints {
		r.byMethod[e.Method] = append(r.byMethod[e.Method], e)
	}
	for _, list := range r.byMethod {
		sort.SliceStable(list, func(i, j int) bool {
			a, b := list[i].template, list[j].template
			if len(a.params) != len(b.params) {
				return len(a.params) < len(b.params)
			}
			return a.before(b)
		})
	}
	return r
}

func (r *router) route(method, path string) (*boundEndpoint, map[string]string) {
	parts := splitPath(path)
	for _, e := range r.byMethod[method] {
		if params, ok := e.template.match(parts); ok {
			return e, params
		}
	}
	return nil, nil
}
