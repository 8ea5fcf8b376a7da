package cfn_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestTemplate_Alarms evaluates the CloudWatch alarms under each scenario, with and
// without an e-mail address: what each watches (the right queue; the node names
// ElastiCache gives in either cluster mode), that the metric math uses exactly the
// metrics it defines, and that they notify the topic only when there is one.
func TestTemplate_Alarms(t *testing.T) {
	rt := loadRaw(t)
	for _, sc := range scenarios {
		for _, email := range []string{"", "ops@example.com"} {
			params := map[string]string{"AlarmEmail": email}
			for k, v := range sc.params {
				params[k] = v
			}
			name := fmt.Sprintf("%s, AlarmEmail=%q", sc.name, email)
			t.Run(name, func(t *testing.T) {
				s := newStack(t, rt, params)
				hasTopic, err := s.condition(rt.Resources["AlarmTopic"].Condition)
				if err != nil {
					t.Fatal(err)
				}
				if hasTopic != (email != "") {
					t.Errorf("AlarmTopic created: %v, want %v", hasTopic, email != "")
				}
				alarms := resourcesOfType(rt, "AWS::CloudWatch::Alarm")
				want := []string{"DeadLetterAlarm", "OldestMessageAlarm", "RedisEvictionsAlarm", "RedisMemoryAlarm"}
				if !slices.Equal(alarms, want) {
					t.Fatalf("alarms %v, want %v", alarms, want)
				}
				for _, a := range alarms {
					v, err := s.eval(rt.Resources[a].Properties)
					if err != nil {
						t.Fatalf("%s: %v", a, err)
					}
					props := v.(map[string]any)
					checkActions(t, a, props, email != "")
					if !strings.HasPrefix(fmt.Sprint(props["AlarmName"]), testStack+"-") {
						t.Errorf("%s: AlarmName %v does not start with the stack's name", a, props["AlarmName"])
					}
					switch a {
					case "DeadLetterAlarm":
						checkQueueAlarm(t, a, props, "DeadLetterQueue", "ApproximateNumberOfMessagesVisible", "0")
					case "OldestMessageAlarm":
						checkQueueAlarm(t, a, props, "Queue", "ApproximateAgeOfOldestMessage", s.params["AlarmOldestMessageSeconds"])
					default:
						checkNodeAlarm(t, a, props, sc.cluster)
					}
				}
			})
		}
	}
}

func checkActions(t *testing.T, alarm string, props map[string]any, topic bool) {
	t.Helper()
	for _, k := range []string{"AlarmActions", "OKActions"} {
		got, set := props[k]
		switch {
		case topic && fmt.Sprint(got) != "["+testStack+"-AlarmTopic-EXAMPLE]":
			t.Errorf("%s: %s = %v, want the alarm topic", alarm, k, got)
		case !topic && set:
			t.Errorf("%s: %s = %v without an AlarmEmail, want none", alarm, k, got)
		}
	}
}

func checkQueueAlarm(t *testing.T, alarm string, props map[string]any, queue, metric, threshold string) {
	t.Helper()
	dims := fmt.Sprint(props["Dimensions"])
	if props["Namespace"] != "AWS/SQS" || props["MetricName"] != metric || scalar(props["Threshold"]) != threshold ||
		dims != fmt.Sprintf("[map[Name:QueueName Value:%s-%s.QueueName-EXAMPLE]]", testStack, queue) {
		t.Errorf("%s watches %v %v %v over %v; want AWS/SQS %s of %s over %s", alarm,
			props["Namespace"], props["MetricName"], dims, props["Threshold"], metric, queue, threshold)
	}
}

// checkNodeAlarm checks a Redis alarm's metric math: one returned expression over
// exactly the node metrics defined, the nodes named as ElastiCache names them.
func checkNodeAlarm(t *testing.T, alarm string, props map[string]any, cluster bool) {
	t.Helper()
	node := regexp.MustCompile(`^` + testStack + `-Redis-EXAMPLE-\d{3}$`)
	if cluster {
		node = regexp.MustCompile(`^` + testStack + `-Redis-EXAMPLE-\d{4}-001$`)
	}
	var expr string
	var ids, nodes []string
	for _, m := range props["Metrics"].([]any) {
		m := m.(map[string]any)
		if e, ok := m["Expression"].(string); ok {
			if expr != "" || m["ReturnData"] != true {
				t.Errorf("%s: want one expression that returns data, got %v", alarm, m)
			}
			expr = e
			continue
		}
		if m["ReturnData"] != false {
			t.Errorf("%s: metric %v returns data; only the expression should", alarm, m["Id"])
		}
		ids = append(ids, fmt.Sprint(m["Id"]))
		stat := m["MetricStat"].(map[string]any)
		metric := stat["Metric"].(map[string]any)
		dims := metric["Dimensions"].([]any)
		if len(dims) != 1 || metric["Namespace"] != "AWS/ElastiCache" {
			t.Errorf("%s: metric %v: %v", alarm, m["Id"], metric)
			continue
		}
		d := dims[0].(map[string]any)
		if d["Name"] != "CacheClusterId" || !node.MatchString(fmt.Sprint(d["Value"])) {
			t.Errorf("%s: metric %v watches %v=%v, want CacheClusterId matching %s", alarm, m["Id"], d["Name"], d["Value"], node)
		}
		nodes = append(nodes, fmt.Sprint(d["Value"]))
	}
	used := regexp.MustCompile(`\bn\d+\b`).FindAllString(expr, -1)
	if len(ids) > 10 || !slices.Equal(slices.Sorted(slices.Values(used)), slices.Sorted(slices.Values(ids))) {
		t.Errorf("%s: expression %q uses %v; the metrics defined are %v (at most 10)", alarm, expr, used, ids)
	}
	if first := testStack + "-Redis-EXAMPLE-001"; !cluster && !slices.Contains(nodes, first) {
		t.Errorf("%s: nodes %v do not include the first, %s", alarm, nodes, first)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(nodes)))) != len(nodes) {
		t.Errorf("%s: a node is watched twice: %v", alarm, nodes)
	}
}
