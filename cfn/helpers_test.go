package cfn_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/intrinsics"

	"github.com/s3cache/s3cache/cfn"
)

// rawTemplate is the template as plain data, intrinsic functions kept in their long form
// ({"Ref": …}, {"Fn::Sub": …}), so that tests can follow references.
type rawTemplate struct {
	Parameters map[string]map[string]any
	Conditions map[string]any
	Resources  map[string]rawResource
	Outputs    map[string]map[string]any
}

type rawResource struct {
	Type                string
	Condition           string
	DependsOn           any
	Metadata            map[string]any
	DeletionPolicy      string
	UpdateReplacePolicy string
	Properties          map[string]any
}

func (r rawResource) dependsOn() []string {
	switch d := r.DependsOn.(type) {
	case string:
		return []string{d}
	case []any:
		var out []string
		for _, v := range d {
			out = append(out, fmt.Sprint(v))
		}
		return out
	}
	return nil
}

// loadRaw converts the YAML (short-form tags included) to JSON with goformation's own
// converter, without resolving anything.
func loadRaw(t *testing.T) *rawTemplate {
	t.Helper()
	js, err := intrinsics.ProcessYAML(cfn.Template, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		t.Fatalf("convert template.yaml: %v", err)
	}
	var rt rawTemplate
	if err := json.Unmarshal(js, &rt); err != nil {
		t.Fatalf("decode template.yaml: %v", err)
	}
	return &rt
}

// pseudoParameters are the names Ref accepts besides parameters and resources.
var pseudoParameters = []string{
	"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
	"AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix",
}

// getAttributes lists, per resource type used in the template, the Fn::GetAtt attributes
// CloudFormation documents for it (resource reference, "Return values").
var getAttributes = map[string][]string{
	"AWS::SQS::Queue":                    {"Arn", "QueueName", "QueueUrl"},
	"AWS::S3::Bucket":                    {"Arn", "DomainName", "DualStackDomainName", "RegionalDomainName", "WebsiteURL"},
	"AWS::ElastiCache::ReplicationGroup": {"ConfigurationEndPoint.Address", "ConfigurationEndPoint.Port", "PrimaryEndPoint.Address", "PrimaryEndPoint.Port", "ReaderEndPoint.Address", "ReaderEndPoint.Port", "ReadEndPoint.Addresses", "ReadEndPoint.Ports"},
	"AWS::EC2::SecurityGroup":            {"GroupId", "VpcId"},
	"AWS::EC2::LaunchTemplate":           {"DefaultVersionNumber", "LatestVersionNumber", "LaunchTemplateId"},
	"AWS::EC2::Instance":                 {"AvailabilityZone", "InstanceId", "PrivateDnsName", "PrivateIp", "PublicDnsName", "PublicIp"},
	"AWS::IAM::Role":                     {"Arn", "RoleId"},
	"AWS::IAM::InstanceProfile":          {"Arn"},
	"AWS::IAM::ManagedPolicy":            {"PolicyArn"},
	"AWS::Cloud9::EnvironmentEC2":        {"Arn", "Name"},
}

// intrinsic reports whether v is an intrinsic function call and returns its name and
// argument.
func intrinsic(v any) (name string, arg any, ok bool) {
	m, isMap := v.(map[string]any)
	if !isMap || len(m) != 1 {
		return "", nil, false
	}
	for k, a := range m {
		if k == "Ref" || strings.HasPrefix(k, "Fn::") {
			return k, a, true
		}
	}
	return "", nil, false
}

// reference is one use of a parameter, resource or pseudo-parameter.
type reference struct {
	Kind   string // Ref, GetAtt, Sub
	Target string // logical name
	Attr   string // GetAtt attribute
	Path   string // where in the template
	Guards []string
}

var subVariable = regexp.MustCompile(`\$\{([^}]*)\}`)

// subNames returns the variables of a Fn::Sub string; ${!Literal} is not a variable.
func subNames(s string) []string {
	var names []string
	for _, m := range subVariable.FindAllStringSubmatch(s, -1) {
		if !strings.HasPrefix(m[1], "!") {
			names = append(names, m[1])
		}
	}
	return names
}

// references walks v and returns every reference in it. Guards are the conditions of the
// Fn::If branches (taken when true) a reference sits in.
func references(v any, path string) []reference {
	var out []reference
	var walk func(v any, path string, guards []string)
	walk = func(v any, path string, guards []string) {
		if name, arg, ok := intrinsic(v); ok {
			switch name {
			case "Ref":
				out = append(out, reference{Kind: "Ref", Target: fmt.Sprint(arg), Path: path, Guards: guards})
				return
			case "Fn::GetAtt":
				var parts []string
				switch a := arg.(type) {
				case string:
					parts = strings.SplitN(a, ".", 2)
				case []any:
					for _, p := range a {
						parts = append(parts, fmt.Sprint(p))
					}
				}
				r := reference{Kind: "GetAtt", Target: parts[0], Path: path, Guards: guards}
				if len(parts) > 1 {
					r.Attr = strings.Join(parts[1:], ".")
				}
				out = append(out, r)
				return
			case "Fn::Sub":
				var str string
				locals := map[string]any{}
				switch a := arg.(type) {
				case string:
					str = a
				case []any:
					str, _ = a[0].(string)
					if len(a) > 1 {
						locals, _ = a[1].(map[string]any)
					}
				}
				for _, n := range subNames(str) {
					if _, ok := locals[n]; ok {
						continue
					}
					if target, attr, isAtt := strings.Cut(n, "."); isAtt {
						out = append(out, reference{Kind: "Sub", Target: target, Attr: attr, Path: path, Guards: guards})
					} else {
						out = append(out, reference{Kind: "Sub", Target: n, Path: path, Guards: guards})
					}
				}
				for _, k := range slices.Sorted(maps.Keys(locals)) {
					walk(locals[k], path+"/Fn::Sub/"+k, guards)
				}
				return
			case "Fn::If":
				a, _ := arg.([]any)
				if len(a) == 3 {
					cond := fmt.Sprint(a[0])
					walk(a[1], path+"/Fn::If[1]", append(slices.Clone(guards), cond))
					walk(a[2], path+"/Fn::If[2]", guards)
					return
				}
			}
		}
		switch x := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				walk(x[k], path+"/"+k, guards)
			}
		case []any:
			for i, e := range x {
				walk(e, path+"["+strconv.Itoa(i)+"]", guards)
			}
		}
	}
	walk(v, path, nil)
	return out
}

// conditionUses returns the names of conditions used by Fn::If in v, and by
// {"Condition": name} inside condition functions.
func conditionUses(v any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		if name, arg, ok := intrinsic(v); ok && name == "Fn::If" {
			if a, _ := arg.([]any); len(a) == 3 {
				out = append(out, fmt.Sprint(a[0]))
			}
		}
		switch x := v.(type) {
		case map[string]any:
			if c, ok := x["Condition"].(string); ok && len(x) == 1 {
				out = append(out, c)
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// scalar renders a string, number or boolean as CloudFormation sees it (JSON numbers
// decode as float64; 1209600 must not print as 1.2096e+06).
func scalar(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// ---- evaluation --------------------------------------------------------------------------

// noValue is what Ref AWS::NoValue evaluates to; maps and lists drop it.
type noValueType struct{}

var noValue = noValueType{}

// stack evaluates the template for one set of parameter values, with made-up but
// realistic values for pseudo-parameters and for what resources return.
type stack struct {
	t      *rawTemplate
	params map[string]string
	conds  map[string]bool
}

const (
	testAccount = "123456789012"
	testRegion  = "us-east-1"
	testStack   = "s3cache"
	testStackID = "arn:aws:cloudformation:us-east-1:123456789012:stack/s3cache/1c2fa620-982a-11e3-aff7-50e2416294e0"
)

func newStack(t *testing.T, rt *rawTemplate, overrides map[string]string) *stack {
	t.Helper()
	s := &stack{t: rt, params: map[string]string{}, conds: map[string]bool{}}
	for name, p := range rt.Parameters {
		if d, ok := p["Default"]; ok {
			s.params[name] = scalar(d)
		}
	}
	for k, v := range overrides {
		if _, ok := rt.Parameters[k]; !ok {
			t.Fatalf("override of unknown parameter %s", k)
		}
		s.params[k] = v
	}
	return s
}

func (s *stack) pseudo(name string) (any, bool) {
	switch name {
	case "AWS::AccountId":
		return testAccount, true
	case "AWS::Region":
		return testRegion, true
	case "AWS::StackName":
		return testStack, true
	case "AWS::StackId":
		return testStackID, true
	case "AWS::Partition":
		return "aws", true
	case "AWS::URLSuffix":
		return "amazonaws.com", true
	case "AWS::NoValue":
		return noValue, true
	case "AWS::NotificationARNs":
		return []any{}, true
	}
	return nil, false
}

func (s *stack) condition(name string) (bool, error) {
	if v, ok := s.conds[name]; ok {
		return v, nil
	}
	expr, ok := s.t.Conditions[name]
	if !ok {
		return false, fmt.Errorf("no condition %q", name)
	}
	v, err := s.eval(expr)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("condition %s is %v, not a boolean", name, v)
	}
	s.conds[name] = b
	return b, nil
}

func (s *stack) ref(name string) (any, error) {
	if v, ok := s.pseudo(name); ok {
		return v, nil
	}
	if p, ok := s.t.Parameters[name]; ok {
		v, set := s.params[name]
		if !set {
			return nil, fmt.Errorf("parameter %s has no value", name)
		}
		if typ := fmt.Sprint(p["Type"]); strings.HasPrefix(typ, "List<") || typ == "CommaDelimitedList" {
			var l []any
			for _, e := range strings.Split(v, ",") {
				l = append(l, e)
			}
			return l, nil
		}
		return v, nil
	}
	r, ok := s.t.Resources[name]
	if !ok {
		return nil, fmt.Errorf("Ref %s: no such parameter or resource", name)
	}
	if err := s.created(name); err != nil {
		return nil, err
	}
	switch r.Type {
	case "AWS::S3::Bucket":
		return s.eval(r.Properties["BucketName"])
	case "AWS::SQS::Queue":
		return fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s-%s-EXAMPLE", testRegion, testAccount, testStack, name), nil
	case "AWS::IAM::ManagedPolicy":
		return fmt.Sprintf("arn:aws:iam::%s:policy/%s-%s-EXAMPLE", testAccount, testStack, name), nil
	case "AWS::EC2::Instance":
		return "i-0123456789abcdef0", nil
	case "AWS::SecretsManager::Secret":
		return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s-EXAMPLE-AbCdEf", testRegion, testAccount, testStack, name), nil
	case "AWS::Cloud9::EnvironmentEC2":
		return "0123456789abcdef0123456789abcdef", nil
	}
	return fmt.Sprintf("%s-%s-EXAMPLE", testStack, name), nil
}

func (s *stack) getAtt(name, attr string) (any, error) {
	r, ok := s.t.Resources[name]
	if !ok {
		return nil, fmt.Errorf("GetAtt %s.%s: no such resource", name, attr)
	}
	if !slices.Contains(getAttributes[r.Type], attr) {
		return nil, fmt.Errorf("GetAtt %s.%s: %s has no attribute %s (known: %v)", name, attr, r.Type, attr, getAttributes[r.Type])
	}
	if err := s.created(name); err != nil {
		return nil, err
	}
	redis := testStack + "-redis-example"
	switch r.Type + "." + attr {
	case "AWS::S3::Bucket.Arn":
		b, err := s.ref(name)
		return fmt.Sprintf("arn:aws:s3:::%v", b), err
	case "AWS::SQS::Queue.Arn":
		return fmt.Sprintf("arn:aws:sqs:%s:%s:%s-%s-EXAMPLE", testRegion, testAccount, testStack, name), nil
	case "AWS::ElastiCache::ReplicationGroup.PrimaryEndPoint.Address":
		return "master." + redis + ".abc123.use1.cache.amazonaws.com", nil
	case "AWS::ElastiCache::ReplicationGroup.ConfigurationEndPoint.Address":
		return "clustercfg." + redis + ".abc123.use1.cache.amazonaws.com", nil
	case "AWS::ElastiCache::ReplicationGroup.PrimaryEndPoint.Port", "AWS::ElastiCache::ReplicationGroup.ConfigurationEndPoint.Port":
		return scalar(s.t.Resources[name].Properties["Port"]), nil
	case "AWS::EC2::SecurityGroup.GroupId":
		return "sg-0123456789abcdef0", nil
	case "AWS::IAM::Role.Arn":
		return fmt.Sprintf("arn:aws:iam::%s:role/%s-%s-EXAMPLE", testAccount, testStack, name), nil
	}
	return fmt.Sprintf("%s-%s.%s-EXAMPLE", testStack, name, attr), nil
}

// created fails when a resource that the evaluated value needs is not created under the
// parameters (its Condition is false).
func (s *stack) created(name string) error {
	c := s.t.Resources[name].Condition
	if c == "" {
		return nil
	}
	ok, err := s.condition(c)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s is not created (condition %s is false) but is referenced", name, c)
	}
	return nil
}

func (s *stack) sub(str string, locals map[string]any) (string, error) {
	var firstErr error
	out := subVariable.ReplaceAllStringFunc(str, func(m string) string {
		n := m[2 : len(m)-1]
		if strings.HasPrefix(n, "!") {
			return "${" + n[1:] + "}"
		}
		var v any
		var err error
		if l, ok := locals[n]; ok {
			v, err = s.eval(l)
		} else if target, attr, isAtt := strings.Cut(n, "."); isAtt {
			v, err = s.getAtt(target, attr)
		} else {
			v, err = s.ref(n)
		}
		if err == nil {
			if _, isStr := v.(string); !isStr {
				err = fmt.Errorf("${%s} is %v, not a string", n, v)
			}
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return fmt.Sprint(v)
	})
	return out, firstErr
}

// eval resolves every intrinsic function in v.
func (s *stack) eval(v any) (any, error) {
	if name, arg, ok := intrinsic(v); ok {
		return s.call(name, arg)
	}
	switch x := v.(type) {
	case map[string]any:
		if c, ok := x["Condition"].(string); ok && len(x) == 1 {
			return s.condition(c)
		}
		out := map[string]any{}
		for k, e := range x {
			ev, err := s.eval(e)
			if err != nil {
				return nil, err
			}
			if ev != noValue {
				out[k] = ev
			}
		}
		return out, nil
	case []any:
		var out []any
		for _, e := range x {
			ev, err := s.eval(e)
			if err != nil {
				return nil, err
			}
			if ev != noValue {
				out = append(out, ev)
			}
		}
		return out, nil
	}
	return v, nil
}

func (s *stack) call(name string, arg any) (any, error) {
	args, _ := arg.([]any)
	evalArgs := func() ([]any, error) {
		out := make([]any, len(args))
		for i, a := range args {
			v, err := s.eval(a)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	switch name {
	case "Ref":
		return s.ref(fmt.Sprint(arg))
	case "Fn::GetAtt":
		switch a := arg.(type) {
		case string:
			n, attr, _ := strings.Cut(a, ".")
			return s.getAtt(n, attr)
		case []any:
			return s.getAtt(fmt.Sprint(a[0]), fmt.Sprint(a[1]))
		}
	case "Fn::Sub":
		if str, ok := arg.(string); ok {
			return s.sub(str, nil)
		}
		str, _ := args[0].(string)
		locals, _ := args[1].(map[string]any)
		return s.sub(str, locals)
	case "Fn::If":
		c, err := s.condition(fmt.Sprint(args[0]))
		if err != nil {
			return nil, err
		}
		if c {
			return s.eval(args[1])
		}
		return s.eval(args[2])
	case "Fn::Equals":
		a, err := evalArgs()
		if err != nil {
			return nil, err
		}
		return scalar(a[0]) == scalar(a[1]), nil
	case "Fn::Not", "Fn::And", "Fn::Or":
		a, err := evalArgs()
		if err != nil {
			return nil, err
		}
		var bs []bool
		for _, e := range a {
			b, ok := e.(bool)
			if !ok {
				return nil, fmt.Errorf("%s of %v", name, e)
			}
			bs = append(bs, b)
		}
		switch name {
		case "Fn::Not":
			return !bs[0], nil
		case "Fn::And":
			return !slices.Contains(bs, false), nil
		default:
			return slices.Contains(bs, true), nil
		}
	case "Fn::Select":
		a, err := evalArgs()
		if err != nil {
			return nil, err
		}
		i, err := strconv.Atoi(scalar(a[0]))
		l, _ := a[1].([]any)
		if err != nil || i < 0 || i >= len(l) {
			return nil, fmt.Errorf("Fn::Select %v of %v", a[0], a[1])
		}
		return l[i], nil
	case "Fn::Split":
		a, err := evalArgs()
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(fmt.Sprint(a[1]), fmt.Sprint(a[0])) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::Join":
		a, err := evalArgs()
		if err != nil {
			return nil, err
		}
		l, _ := a[1].([]any)
		var parts []string
		for _, p := range l {
			parts = append(parts, fmt.Sprint(p))
		}
		return strings.Join(parts, fmt.Sprint(a[0])), nil
	case "Fn::Base64":
		return s.eval(arg)
	}
	return nil, fmt.Errorf("intrinsic %s is not supported by the test evaluator", name)
}

// outputs evaluates the outputs that exist under the stack's parameters.
func (s *stack) outputs() (map[string]string, error) {
	out := map[string]string{}
	for name, o := range s.t.Outputs {
		if c, ok := o["Condition"].(string); ok {
			on, err := s.condition(c)
			if err != nil {
				return nil, err
			}
			if !on {
				continue
			}
		}
		v, err := s.eval(o["Value"])
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", name, err)
		}
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("output %s is %v, not a string", name, v)
		}
		out[name] = str
	}
	return out, nil
}
