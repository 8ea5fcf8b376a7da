package cfn_test

import (
	"fmt"
	"slices"
	"testing"
)

// request is an sqs:SendMessage call on the queue, as IAM sees it.
type request struct {
	service string            // the calling service principal (s3.amazonaws.com), or ""
	context map[string]string // condition keys present in the request
	// identityAllows: the caller's own IAM policy allows sqs:SendMessage on the queue
	// (an account principal; a service principal has none).
	identityAllows bool
}

// decide evaluates a resource policy for req as IAM does for a principal of the same
// account: an explicit deny wins; otherwise either policy may allow. It knows the
// operators and principal forms the template uses, and fails on others.
func decide(t *testing.T, doc map[string]any, req request) bool {
	t.Helper()
	allowed := req.identityAllows
	for _, raw := range doc["Statement"].([]any) {
		st := raw.(map[string]any)
		if !principalMatches(t, st["Principal"], req) || !conditionsMatch(t, st["Condition"], req) {
			continue
		}
		switch st["Effect"] {
		case "Deny":
			return false
		case "Allow":
			allowed = true
		}
	}
	return allowed
}

func principalMatches(t *testing.T, p any, req request) bool {
	switch p := p.(type) {
	case string:
		if p == "*" {
			return true
		}
	case map[string]any:
		if svc, ok := p["Service"]; ok {
			return svc == req.service
		}
		if arn, ok := p["AWS"]; ok {
			return req.service == "" && arn == req.context["aws:PrincipalArn"]
		}
	}
	t.Fatalf("principal %v: not understood by the test's evaluator", p)
	return false
}

// conditionsMatch: every operator and every key must match. A negated operator matches
// when the key is absent (IAM's rule).
func conditionsMatch(t *testing.T, c any, req request) bool {
	conds, _ := c.(map[string]any)
	for op, kv := range conds {
		for key, want := range kv.(map[string]any) {
			got, present := req.context[key]
			var wants []string
			switch w := want.(type) {
			case string:
				wants = []string{w}
			case []any:
				for _, e := range w {
					wants = append(wants, fmt.Sprint(e))
				}
			}
			eq := present && slices.Contains(wants, got)
			switch op {
			case "ArnEquals", "StringEquals":
				if !eq {
					return false
				}
			case "ArnNotEquals", "StringNotEquals":
				if eq {
					return false
				}
			default:
				t.Fatalf("condition operator %s: not understood by the test's evaluator", op)
			}
		}
	}
	return true
}

// TestTemplate_QueuePolicyDecides evaluates the queue policy, resolved, for the senders
// that matter: only the bucket's notifications and the redrive role get through, however
// broad another principal's own IAM policy is.
func TestTemplate_QueuePolicyDecides(t *testing.T) {
	rt := loadRaw(t)
	s := newStack(t, rt, nil)
	v, err := s.eval(rt.Resources["QueuePolicy"].Properties["PolicyDocument"])
	if err != nil {
		t.Fatal(err)
	}
	doc := v.(map[string]any)
	bucketArn, _ := s.getAtt("Bucket", "Arn")
	redrive, _ := s.getAtt("RedriveRole", "Arn")
	host, _ := s.getAtt("HostRole", "Arn")
	for _, tc := range []struct {
		name string
		req  request
		want bool
	}{
		{"the bucket's notification", request{service: "s3.amazonaws.com", context: map[string]string{
			"aws:SourceArn": fmt.Sprint(bucketArn), "aws:SourceAccount": testAccount}}, true},
		{"another bucket's notification", request{service: "s3.amazonaws.com", context: map[string]string{
			"aws:SourceArn": "arn:aws:s3:::someone-elses", "aws:SourceAccount": testAccount}}, false},
		{"the bucket's ARN from another account", request{service: "s3.amazonaws.com", context: map[string]string{
			"aws:SourceArn": fmt.Sprint(bucketArn), "aws:SourceAccount": "210987654321"}}, false},
		{"the redrive role", request{identityAllows: true, context: map[string]string{"aws:PrincipalArn": fmt.Sprint(redrive)}}, true},
		{"the host role, allowed by a broad IAM policy", request{identityAllows: true, context: map[string]string{"aws:PrincipalArn": fmt.Sprint(host)}}, false},
		{"a user with sqs:* on *", request{identityAllows: true, context: map[string]string{"aws:PrincipalArn": "arn:aws:iam::" + testAccount + ":user/dev"}}, false},
	} {
		if got := decide(t, doc, tc.req); got != tc.want {
			t.Errorf("%s: may send %v, want %v", tc.name, got, tc.want)
		}
	}
}
