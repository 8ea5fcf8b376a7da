package cfn_test

import (
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func resourcesOfType(rt *rawTemplate, typ string) []string {
	var names []string
	for name, r := range rt.Resources {
		if r.Type == typ {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func strList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if str, ok := e.(string); ok {
				out = append(out, str)
			} else {
				out = append(out, expr(e))
			}
		}
		return out
	case nil:
		return nil
	}
	return []string{expr(v)}
}

func intOf(t *testing.T, where string, v any) int {
	t.Helper()
	n, err := strconv.Atoi(scalar(v))
	if err != nil {
		t.Fatalf("%s: got %s, want a literal number", where, expr(v))
	}
	return n
}

// TestTemplate_BucketNotifications checks that the bucket sends created, removed and
// lifecycle-expiration events to the queue, and only after the queue policy exists.
func TestTemplate_BucketNotifications(t *testing.T) {
	rt := loadRaw(t)
	buckets := resourcesOfType(rt, "AWS::S3::Bucket")
	if !slices.Equal(buckets, []string{"Bucket"}) {
		t.Fatalf("buckets: got %v, want [Bucket]", buckets)
	}
	b := rt.Resources["Bucket"]
	nc, _ := b.Properties["NotificationConfiguration"].(map[string]any)
	qcs, _ := nc["QueueConfigurations"].([]any)
	var events []string
	for i, qc := range qcs {
		m, _ := qc.(map[string]any)
		if got := expr(m["Queue"]); got != "!GetAtt Queue.Arn" {
			t.Errorf("QueueConfigurations[%d].Queue: got %s, want !GetAtt Queue.Arn", i, got)
		}
		if f, ok := m["Filter"]; ok {
			t.Errorf("QueueConfigurations[%d]: has Filter %s; s3cached filters keys itself (S3CACHE_KEY_PREFIXES)", i, expr(f))
		}
		events = append(events, fmt.Sprint(m["Event"]))
	}
	slices.Sort(events)
	want := []string{"s3:LifecycleExpiration:*", "s3:ObjectCreated:*", "s3:ObjectRemoved:*"}
	if !slices.Equal(events, want) {
		t.Errorf("notification events: got %v, want %v", events, want)
	}
	if others := slices.DeleteFunc(slices.Collect(maps.Keys(nc)), func(k string) bool { return k == "QueueConfigurations" }); len(others) > 0 {
		t.Errorf("NotificationConfiguration: unexpected %v", others)
	}
	if !slices.Contains(b.dependsOn(), "QueuePolicy") {
		t.Errorf("Bucket DependsOn: got %v, want QueuePolicy (S3 checks the destination when the notification is configured)", b.dependsOn())
	}
}

// TestTemplate_QueuePolicy checks that only S3, for this bucket in this account, may send
// to the queue, and that the policy names the bucket without referring to it (the bucket
// depends on the policy).
func TestTemplate_QueuePolicy(t *testing.T) {
	rt := loadRaw(t)
	policies := resourcesOfType(rt, "AWS::SQS::QueuePolicy")
	if !slices.Equal(policies, []string{"QueuePolicy"}) {
		t.Fatalf("queue policies: got %v, want [QueuePolicy]", policies)
	}
	qp := rt.Resources["QueuePolicy"].Properties
	if got := strList(qp["Queues"]); !slices.Equal(got, []string{"!Ref Queue"}) {
		t.Errorf("QueuePolicy.Queues: got %v, want [!Ref Queue]", got)
	}
	doc, _ := qp["PolicyDocument"].(map[string]any)
	stmts, _ := doc["Statement"].([]any)
	if len(stmts) != 1 {
		t.Fatalf("QueuePolicy: got %d statements, want 1", len(stmts))
	}
	st, _ := stmts[0].(map[string]any)
	checks := []struct{ field, got, want string }{
		{"Effect", fmt.Sprint(st["Effect"]), "Allow"},
		{"Principal", expr(st["Principal"]), `{"Service":"s3.amazonaws.com"}`},
		{"Action", strings.Join(strList(st["Action"]), ","), "sqs:SendMessage"},
		{"Resource", strings.Join(strList(st["Resource"]), ","), "!GetAtt Queue.Arn"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("QueuePolicy statement %s: got %s, want %s", c.field, c.got, c.want)
		}
	}
	cond, _ := st["Condition"].(map[string]any)
	var sourceArn, sourceAccount any
	for op, kv := range cond {
		m, _ := kv.(map[string]any)
		for k, v := range m {
			switch {
			case k == "aws:SourceArn" && (op == "ArnEquals" || op == "ArnLike" || op == "StringEquals"):
				sourceArn = v
			case k == "aws:SourceAccount" && op == "StringEquals":
				sourceAccount = v
			default:
				t.Errorf("QueuePolicy condition %s %s: unexpected", op, k)
			}
		}
	}
	if got := expr(sourceAccount); got != "!Ref AWS::AccountId" {
		t.Errorf("aws:SourceAccount: got %s, want !Ref AWS::AccountId", got)
	}
	for _, r := range references(st, "QueuePolicy") {
		if r.Target == "Bucket" || r.Target == "BucketPolicy" {
			t.Errorf("%s: the queue policy refers to %s, a circular dependency (the bucket depends on the policy)", r.Path, r.Target)
		}
	}

	// aws:SourceArn must be the bucket's ARN, built from the same name expression as the
	// bucket's BucketName.
	bucketName := rt.Resources["Bucket"].Properties["BucketName"]
	wantArn := subWithPrefix(t, bucketName, "arn:${AWS::Partition}:s3:::")
	if !reflect.DeepEqual(sourceArn, wantArn) {
		t.Errorf("aws:SourceArn:\n got %s\nwant %s (the bucket's name behind arn:${AWS::Partition}:s3:::)", expr(sourceArn), expr(wantArn))
	}
	// And both evaluate to the same bucket.
	s := newStack(t, rt, nil)
	arn, err := s.eval(sourceArn)
	if err != nil {
		t.Fatal(err)
	}
	bucketArn, err := s.getAtt("Bucket", "Arn")
	if err != nil {
		t.Fatal(err)
	}
	if arn != bucketArn {
		t.Errorf("aws:SourceArn evaluates to %v, the bucket's ARN is %v", arn, bucketArn)
	}
}

// subWithPrefix returns the Fn::Sub expression v (string or [string, vars]) with prefix
// put in front of its string.
func subWithPrefix(t *testing.T, v any, prefix string) any {
	t.Helper()
	name, arg, ok := intrinsic(v)
	if !ok || name != "Fn::Sub" {
		t.Fatalf("BucketName: got %s, want a Fn::Sub derived from the stack", expr(v))
	}
	switch a := arg.(type) {
	case string:
		return map[string]any{"Fn::Sub": prefix + a}
	case []any:
		return map[string]any{"Fn::Sub": []any{prefix + fmt.Sprint(a[0]), a[1]}}
	}
	t.Fatalf("BucketName: unexpected Fn::Sub argument %s", expr(arg))
	return nil
}

// TestTemplate_BucketName checks that the derived bucket name is a valid S3 bucket name
// for the longest prefix and region names.
func TestTemplate_BucketName(t *testing.T) {
	rt := loadRaw(t)
	s := newStack(t, rt, map[string]string{"BucketNamePrefix": "abcdefghijklmnopqrst"})
	name, err := s.ref("Bucket")
	if err != nil {
		t.Fatal(err)
	}
	longest := strings.Replace(fmt.Sprint(name), testRegion, "ap-southeast-5", 1)
	valid := regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	if !valid.MatchString(longest) {
		t.Errorf("bucket name %q (%d characters): not a valid S3 bucket name", longest, len(longest))
	}
}

// TestTemplate_Queues checks the redrive policy, retention and visibility timeout.
func TestTemplate_Queues(t *testing.T) {
	rt := loadRaw(t)
	queues := resourcesOfType(rt, "AWS::SQS::Queue")
	if !slices.Equal(queues, []string{"DeadLetterQueue", "Queue"}) {
		t.Fatalf("queues: got %v, want [DeadLetterQueue Queue]", queues)
	}
	q := rt.Resources["Queue"].Properties
	dlq := rt.Resources["DeadLetterQueue"].Properties

	rp, _ := q["RedrivePolicy"].(map[string]any)
	if got := expr(rp["deadLetterTargetArn"]); got != "!GetAtt DeadLetterQueue.Arn" {
		t.Errorf("RedrivePolicy.deadLetterTargetArn: got %s, want !GetAtt DeadLetterQueue.Arn", got)
	}
	// maxReceiveCount: a literal ≥ 5, or a parameter whose MinValue and Default are ≥ 5.
	mrc := rp["maxReceiveCount"]
	if name, arg, ok := intrinsic(mrc); ok && name == "Ref" {
		p := rt.Parameters[fmt.Sprint(arg)]
		if lo := intOf(t, "MaxReceiveCount MinValue", p["MinValue"]); lo < 5 {
			t.Errorf("maxReceiveCount parameter MinValue: got %d, want ≥ 5", lo)
		}
		if d := intOf(t, "MaxReceiveCount Default", p["Default"]); d < 5 {
			t.Errorf("maxReceiveCount parameter Default: got %d, want ≥ 5", d)
		}
	} else if n := intOf(t, "maxReceiveCount", mrc); n < 5 {
		t.Errorf("maxReceiveCount: got %d, want ≥ 5 (s3cached gives a message back after 5 attempts)", n)
	}
	if _, ok := dlq["RedrivePolicy"]; ok {
		t.Error("the dead-letter queue has a redrive policy of its own")
	}

	retention := func(p map[string]any) int {
		if v, ok := p["MessageRetentionPeriod"]; ok {
			return intOf(t, "MessageRetentionPeriod", v)
		}
		return 345600 // the SQS default, 4 days
	}
	if qr, dr := retention(q), retention(dlq); dr <= qr {
		t.Errorf("retention: dead-letter queue %ds, queue %ds; want the DLQ's longer (a message's age carries over)", dr, qr)
	}
	if vt := intOf(t, "VisibilityTimeout", q["VisibilityTimeout"]); vt < 60 || vt > 900 {
		t.Errorf("VisibilityTimeout: got %ds, want 60–900 s (s3cached retries in place for up to ~30 s between extensions)", vt)
	}
	if w := intOf(t, "ReceiveMessageWaitTimeSeconds", q["ReceiveMessageWaitTimeSeconds"]); w != 20 {
		t.Errorf("ReceiveMessageWaitTimeSeconds: got %d, want 20", w)
	}
	for name, p := range map[string]map[string]any{"Queue": q, "DeadLetterQueue": dlq} {
		if _, kms := p["KmsMasterKeyId"]; kms {
			t.Errorf("%s: uses a KMS key; S3 notifications need a key policy for that (use SqsManagedSseEnabled)", name)
		}
		if p["SqsManagedSseEnabled"] != true {
			t.Errorf("%s: SqsManagedSseEnabled: got %v, want true", name, p["SqsManagedSseEnabled"])
		}
	}
}

// TestTemplate_Redis checks TLS, encryption at rest, the AUTH token and the network.
func TestTemplate_Redis(t *testing.T) {
	rt := loadRaw(t)
	groups := resourcesOfType(rt, "AWS::ElastiCache::ReplicationGroup")
	if !slices.Equal(groups, []string{"Redis"}) {
		t.Fatalf("replication groups: got %v, want [Redis]", groups)
	}
	if cc := resourcesOfType(rt, "AWS::ElastiCache::CacheCluster"); len(cc) > 0 {
		t.Errorf("cache clusters %v: use the replication group only", cc)
	}
	p := rt.Resources["Redis"].Properties
	for _, k := range []string{"TransitEncryptionEnabled", "AtRestEncryptionEnabled"} {
		if p[k] != true {
			t.Errorf("Redis %s: got %s, want true (a literal, whatever the parameters)", k, expr(p[k]))
		}
	}
	if m, ok := p["TransitEncryptionMode"]; ok && m != "required" {
		t.Errorf("Redis TransitEncryptionMode: got %s, want required or unset", expr(m))
	}
	if got := expr(p["AuthToken"]); got != "!Ref RedisAuthToken" {
		t.Errorf("Redis AuthToken: got %s, want !Ref RedisAuthToken", got)
	}
	if got := strList(p["SecurityGroupIds"]); !slices.Equal(got, []string{"!GetAtt RedisSecurityGroup.GroupId"}) {
		t.Errorf("Redis SecurityGroupIds: got %v, want [!GetAtt RedisSecurityGroup.GroupId]", got)
	}
	if got := expr(p["CacheSubnetGroupName"]); got != "!Ref CacheSubnetGroup" {
		t.Errorf("Redis CacheSubnetGroupName: got %s, want !Ref CacheSubnetGroup", got)
	}

	tok := rt.Parameters["RedisAuthToken"]
	if tok["NoEcho"] != true {
		t.Errorf("RedisAuthToken NoEcho: got %v, want true", tok["NoEcho"])
	}
	if _, ok := tok["Default"]; ok {
		t.Error("RedisAuthToken has a default")
	}
	// The token goes to Redis and nowhere else (tags, user data and outputs are readable).
	for name, r := range rt.Resources {
		for _, ref := range references(r.Properties, "Resources/"+name) {
			if ref.Target == "RedisAuthToken" && ref.Path != "Resources/Redis/AuthToken" {
				t.Errorf("%s: uses RedisAuthToken; only Redis.AuthToken may", ref.Path)
			}
		}
	}

	// Cluster mode: the configuration and endpoint follow the RedisClusterMode parameter.
	for _, tc := range []struct {
		mode       string
		paramGroup string
		shards     string
	}{
		{"disabled", "default.redis7", "1"},
		{"enabled", "default.redis7.cluster.on", "2"},
	} {
		t.Run("ClusterMode_"+tc.mode, func(t *testing.T) {
			s := newStack(t, rt, map[string]string{"RedisClusterMode": tc.mode, "NumNodeGroups": "2", "RedisAuthToken": "0123456789abcdef"})
			props, err := s.eval(p)
			if err != nil {
				t.Fatal(err)
			}
			m := props.(map[string]any)
			if got := fmt.Sprint(m["CacheParameterGroupName"]); got != tc.paramGroup {
				t.Errorf("CacheParameterGroupName: got %s, want %s", got, tc.paramGroup)
			}
			if got := fmt.Sprint(m["NumNodeGroups"]); got != tc.shards {
				t.Errorf("NumNodeGroups: got %s, want %s", got, tc.shards)
			}
			if tc.mode == "enabled" && m["AutomaticFailoverEnabled"] != true {
				t.Errorf("AutomaticFailoverEnabled: got %v, want true (required in cluster mode)", m["AutomaticFailoverEnabled"])
			}
		})
	}
	t.Run("NoReplicas", func(t *testing.T) {
		s := newStack(t, rt, map[string]string{"ReplicasPerNodeGroup": "0", "RedisAuthToken": "0123456789abcdef"})
		props, err := s.eval(p)
		if err != nil {
			t.Fatal(err)
		}
		m := props.(map[string]any)
		if m["AutomaticFailoverEnabled"] != false || m["MultiAZEnabled"] != false {
			t.Errorf("one node: AutomaticFailoverEnabled %v, MultiAZEnabled %v; want both false", m["AutomaticFailoverEnabled"], m["MultiAZEnabled"])
		}
	})
}

// elastiCacheTokenChar reports whether ElastiCache accepts c in an AUTH token:
// printable ASCII letters and digits, and ! & # $ ^ < > -.
func elastiCacheTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!&#$^<>-", c) >= 0
}

// TestTemplate_AuthTokenPattern checks the AUTH token parameter's AllowedPattern: it
// accepts only what ElastiCache accepts, and only what goes into a rediss:// URL as is.
func TestTemplate_AuthTokenPattern(t *testing.T) {
	rt := loadRaw(t)
	re := regexp.MustCompile(fmt.Sprint(rt.Parameters["RedisAuthToken"]["AllowedPattern"]))
	for c := byte(0x20); c < 0x7f; c++ {
		tok := strings.Repeat(string(c), 16)
		if !re.MatchString(tok) {
			continue
		}
		if !elastiCacheTokenChar(c) {
			t.Errorf("AllowedPattern accepts %q, which ElastiCache refuses", c)
		}
		u, err := url.Parse("rediss://:" + tok + "@redis.example:6379/0")
		if err != nil {
			t.Errorf("AllowedPattern accepts %q, which breaks S3CACHE_REDIS_URL: %v", c, err)
			continue
		}
		if pw, _ := u.User.Password(); pw != tok {
			t.Errorf("AllowedPattern accepts %q: the URL's password reads back as %q", c, pw)
		}
	}
	for _, tc := range []struct {
		token string
		want  bool
	}{
		{"0123456789abcdef0123456789abcdef", true},
		{"Abcdefgh-12345!&$", true},
		{"short-token-15ch", true},
		{"shorttoken15chr", false},
		{strings.Repeat("a", 129), false},
		{"has space in it 12345", false},
		{"has@at-sign-123456", false},
		{"has/slash-1234567", false},
		{"has\"quote-1234567", false},
	} {
		if got := re.MatchString(tc.token); got != tc.want {
			t.Errorf("AllowedPattern on %q: got %v, want %v", tc.token, got, tc.want)
		}
	}
}

// TestTemplate_NoOpenIngress checks that no security group admits traffic from anywhere
// and that Redis admits 6379 from the host's security group only.
func TestTemplate_NoOpenIngress(t *testing.T) {
	rt := loadRaw(t)
	type rule struct {
		group string
		props map[string]any
	}
	var ingress []rule
	for _, name := range resourcesOfType(rt, "AWS::EC2::SecurityGroup") {
		rules, _ := rt.Resources[name].Properties["SecurityGroupIngress"].([]any)
		for _, r := range rules {
			m, _ := r.(map[string]any)
			ingress = append(ingress, rule{"!Ref " + name, m})
		}
	}
	for _, name := range resourcesOfType(rt, "AWS::EC2::SecurityGroupIngress") {
		p := rt.Resources[name].Properties
		g := p["GroupId"]
		if g == nil {
			g = p["GroupName"]
		}
		ingress = append(ingress, rule{expr(g), p})
	}
	for _, r := range ingress {
		for _, k := range []string{"CidrIp", "CidrIpv6"} {
			v := fmt.Sprint(r.props[k])
			if v == "0.0.0.0/0" || v == "::/0" || strings.HasSuffix(v, "/0") {
				t.Errorf("%s: ingress from %s", r.group, v)
			}
		}
		if _, ok := r.props["SourcePrefixListId"]; ok {
			t.Errorf("%s: ingress from a prefix list; allow the host's security group only", r.group)
		}
	}
	if len(ingress) != 1 {
		t.Fatalf("ingress rules: got %d, want exactly one (Redis from the host)", len(ingress))
	}
	r := ingress[0]
	got := fmt.Sprintf("%s tcp %v-%v from %s", r.group, r.props["FromPort"], r.props["ToPort"], expr(r.props["SourceSecurityGroupId"]))
	want := "!GetAtt RedisSecurityGroup.GroupId tcp 6379-6379 from !GetAtt HostSecurityGroup.GroupId"
	if r.props["IpProtocol"] != "tcp" || got != want {
		t.Errorf("Redis ingress: got %s (%v), want %s", got, r.props["IpProtocol"], want)
	}
}

// statement is an IAM policy statement, rendered for comparison.
type statement struct {
	Effect    string
	Actions   []string
	Resources []string
}

func statements(t *testing.T, doc any) []statement {
	t.Helper()
	d, _ := doc.(map[string]any)
	var out []statement
	raw, ok := d["Statement"].([]any)
	if !ok {
		raw = []any{d["Statement"]}
	}
	for _, s := range raw {
		m, _ := s.(map[string]any)
		if _, ok := m["NotAction"]; ok {
			t.Errorf("statement %s: NotAction grants everything else", expr(m))
		}
		if _, ok := m["NotResource"]; ok {
			t.Errorf("statement %s: NotResource grants everything else", expr(m))
		}
		st := statement{Effect: fmt.Sprint(m["Effect"]), Actions: strList(m["Action"]), Resources: strList(m["Resource"])}
		slices.Sort(st.Actions)
		slices.Sort(st.Resources)
		out = append(out, st)
	}
	return out
}

// TestTemplate_IAMLeastPrivilege checks that the daemon's and the CLI's policies grant
// exactly the actions they use on exactly their queue and bucket, that nothing grants a
// wildcard action or resource, and that the host role trusts EC2 only.
func TestTemplate_IAMLeastPrivilege(t *testing.T) {
	rt := loadRaw(t)
	const (
		queue   = "!GetAtt Queue.Arn"
		bucket  = "!GetAtt Bucket.Arn"
		objects = "!Sub ${Bucket.Arn}/*"
	)
	want := map[string][]statement{
		"DaemonPolicy": {
			{"Allow", []string{"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"}, []string{queue}},
			{"Allow", []string{"s3:GetObject"}, []string{objects}},
			// 404 instead of 403 for objects that are gone (SPEC §10).
			{"Allow", []string{"s3:ListBucket"}, []string{bucket}},
		},
		"CliPolicy": {
			{"Allow", []string{"s3:DeleteObject", "s3:GetObject", "s3:PutObject"}, []string{objects}},
			{"Allow", []string{"s3:ListBucket"}, []string{bucket}},
		},
	}
	managed := resourcesOfType(rt, "AWS::IAM::ManagedPolicy")
	if got := slices.Sorted(maps.Keys(want)); !slices.Equal(managed, got) {
		t.Errorf("managed policies: got %v, want %v", managed, got)
	}
	for _, name := range managed {
		got := statements(t, rt.Resources[name].Properties["PolicyDocument"])
		if !reflect.DeepEqual(got, want[name]) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, want[name])
		}
	}
	if p := resourcesOfType(rt, "AWS::IAM::Policy"); len(p) > 0 {
		t.Errorf("inline policies %v: use the managed policies", p)
	}

	// No identity or resource policy allows a wildcard action or resource.
	for name, r := range rt.Resources {
		var docs []any
		switch r.Type {
		case "AWS::IAM::ManagedPolicy", "AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy":
			docs = append(docs, r.Properties["PolicyDocument"])
		case "AWS::IAM::Role":
			pols, _ := r.Properties["Policies"].([]any)
			for _, p := range pols {
				docs = append(docs, p.(map[string]any)["PolicyDocument"])
			}
		}
		for _, d := range docs {
			for _, st := range statements(t, d) {
				if st.Effect != "Allow" {
					continue
				}
				for _, a := range st.Actions {
					if strings.Contains(a, "*") {
						t.Errorf("%s: allows wildcard action %s", name, a)
					}
				}
				for _, res := range st.Resources {
					if res == "*" || strings.HasSuffix(res, ":*") {
						t.Errorf("%s: allows %v on every resource (%s)", name, st.Actions, res)
					}
				}
			}
		}
	}
	// The bucket policy only denies (plain HTTP).
	for _, st := range statements(t, rt.Resources["BucketPolicy"].Properties["PolicyDocument"]) {
		if st.Effect != "Deny" {
			t.Errorf("BucketPolicy: %+v; want only Deny statements", st)
		}
	}

	roles := resourcesOfType(rt, "AWS::IAM::Role")
	if !slices.Equal(roles, []string{"HostRole"}) {
		t.Fatalf("roles: got %v, want [HostRole]", roles)
	}
	role := rt.Resources["HostRole"].Properties
	if _, ok := role["Policies"]; ok {
		t.Error("HostRole has inline policies; use DaemonPolicy and CliPolicy")
	}
	// The one AWS-managed policy: Session Manager needs it (its resources are "*" as AWS
	// requires for SSM's messaging channels).
	gotManaged := strList(role["ManagedPolicyArns"])
	slices.Sort(gotManaged)
	wantManaged := []string{"!Ref CliPolicy", "!Ref DaemonPolicy", "!Sub arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"}
	if !slices.Equal(gotManaged, wantManaged) {
		t.Errorf("HostRole ManagedPolicyArns: got %v, want %v", gotManaged, wantManaged)
	}
	trust := role["AssumeRolePolicyDocument"].(map[string]any)["Statement"].([]any)
	if len(trust) != 1 || expr(trust[0].(map[string]any)["Principal"]) != `{"Service":"ec2.amazonaws.com"}` ||
		strings.Join(strList(trust[0].(map[string]any)["Action"]), ",") != "sts:AssumeRole" {
		t.Errorf("HostRole trust policy: got %s, want ec2.amazonaws.com sts:AssumeRole only", expr(trust))
	}
}
