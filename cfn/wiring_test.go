package cfn_test

import (
	"fmt"
	"maps"
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
	for i, qc := range qcs {
		m, _ := qc.(map[string]any)
		if got := expr(m["Queue"]); got != "!GetAtt Queue.Arn" {
			t.Errorf("QueueConfigurations[%d].Queue: got %s, want !GetAtt Queue.Arn", i, got)
		}
		if f, ok := m["Filter"]; ok {
			t.Errorf("QueueConfigurations[%d]: has Filter %s; s3cached filters keys itself (S3CACHE_KEY_PREFIXES)", i, expr(f))
		}
	}
	// With versioning, lifecycle's Delete is an older version's expiry: the current
	// object is still there, and its entry must stay.
	for versioning, lifecycle := range map[string]string{"true": "s3:LifecycleExpiration:DeleteMarkerCreated", "false": "s3:LifecycleExpiration:*"} {
		v, err := newStack(t, rt, map[string]string{"BucketVersioning": versioning}).eval(qcs)
		if err != nil {
			t.Fatal(err)
		}
		var events []string
		for _, qc := range v.([]any) {
			events = append(events, fmt.Sprint(qc.(map[string]any)["Event"]))
		}
		slices.Sort(events)
		if want := []string{lifecycle, "s3:ObjectCreated:*", "s3:ObjectRemoved:*"}; !slices.Equal(events, want) {
			t.Errorf("BucketVersioning=%s: notification events %v, want %v", versioning, events, want)
		}
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
	if len(stmts) != 2 {
		t.Fatalf("QueuePolicy: got %d statements, want 2 (allow the bucket, deny other senders)", len(stmts))
	}
	st, _ := stmts[0].(map[string]any)
	deny, _ := stmts[1].(map[string]any)
	checks := []struct{ field, got, want string }{
		{"Effect", fmt.Sprint(st["Effect"]), "Allow"},
		{"Principal", expr(st["Principal"]), `{"Service":"s3.amazonaws.com"}`},
		{"Action", strings.Join(strList(st["Action"]), ","), "sqs:SendMessage"},
		{"Resource", strings.Join(strList(st["Resource"]), ","), "!GetAtt Queue.Arn"},
		{"deny Effect", fmt.Sprint(deny["Effect"]), "Deny"},
		{"deny Principal", expr(deny["Principal"]), `"*"`},
		{"deny Action", strings.Join(strList(deny["Action"]), ","), "sqs:SendMessage"},
		{"deny Resource", strings.Join(strList(deny["Resource"]), ","), "!GetAtt Queue.Arn"},
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
	// The deny exempts exactly the same bucket and the redrive role.
	denyCond, _ := deny["Condition"].(map[string]any)
	notEq, _ := denyCond["ArnNotEquals"].(map[string]any)
	if len(denyCond) != 1 || len(notEq) != 2 || !reflect.DeepEqual(notEq["aws:SourceArn"], wantArn) || expr(notEq["aws:PrincipalArn"]) != "!GetAtt RedriveRole.Arn" {
		t.Errorf("DenyOtherSenders condition: got %s, want ArnNotEquals on aws:SourceArn (the bucket) and aws:PrincipalArn (RedriveRole)", expr(denyCond))
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
	if _, ok := p["AuthToken"]; ok {
		t.Error("Redis has an AUTH token: it logs in as the default user, who may do anything; use RBAC users")
	}
	if got := strList(p["UserGroupIds"]); !slices.Equal(got, []string{"!Ref RedisUserGroup"}) {
		t.Errorf("Redis UserGroupIds: got %v, want [!Ref RedisUserGroup]", got)
	}
	if got := strList(p["SecurityGroupIds"]); !slices.Equal(got, []string{"!GetAtt RedisSecurityGroup.GroupId"}) {
		t.Errorf("Redis SecurityGroupIds: got %v, want [!GetAtt RedisSecurityGroup.GroupId]", got)
	}
	if got := expr(p["CacheSubnetGroupName"]); got != "!Ref CacheSubnetGroup" {
		t.Errorf("Redis CacheSubnetGroupName: got %s, want !Ref CacheSubnetGroup", got)
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
			s := newStack(t, rt, map[string]string{"RedisClusterMode": tc.mode, "NumNodeGroups": "2"})
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
		s := newStack(t, rt, map[string]string{"ReplicasPerNodeGroup": "0"})
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

// TestTemplate_RedisUsers checks the RBAC users: the group holds a default user that is
// switched off, the s3cache user is limited to the bucket's keys and never gets a command
// that reaches beyond them, and the passwords Secrets Manager generates are ones
// ElastiCache accepts and a rediss:// URL carries as they are.
func TestTemplate_RedisUsers(t *testing.T) {
	rt := loadRaw(t)
	users := resourcesOfType(rt, "AWS::ElastiCache::User")
	if want := []string{"RedisAdminUser", "RedisDefaultUser", "RedisUser"}; !slices.Equal(users, want) {
		t.Fatalf("users: got %v, want %v", users, want)
	}
	group := rt.Resources["RedisUserGroup"].Properties
	if got := strList(group["UserIds"]); !slices.Equal(got, []string{"!Ref RedisDefaultUser", "!Ref RedisUser", "!Ref RedisAdminUser"}) {
		t.Errorf("RedisUserGroup UserIds: got %v", got)
	}
	s := newStack(t, rt, nil)
	access := map[string]string{}
	for _, u := range users {
		p := rt.Resources[u].Properties
		if p["Engine"] != "redis" {
			t.Errorf("%s Engine: got %v, want redis", u, p["Engine"])
		}
		v, err := s.eval(p["AccessString"])
		if err != nil {
			t.Fatal(err)
		}
		access[fmt.Sprint(p["UserName"])] = fmt.Sprint(v)
		id, err := s.eval(p["UserId"])
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`).MatchString(fmt.Sprint(id)) {
			t.Errorf("%s UserId %q: ElastiCache wants a lowercase letter, then lowercase letters, digits and single hyphens", u, id)
		}
	}
	if got := access["default"]; !strings.HasPrefix(got, "off ") || !strings.Contains(got, "-@all") {
		t.Errorf("default user: %q, want it off and allowed nothing", got)
	}
	bucket, err := s.ref("Bucket")
	if err != nil {
		t.Fatal(err)
	}
	rules := strings.Fields(access["s3cache"])
	if rules[0] != "on" || !slices.Contains(rules, "~"+fmt.Sprint(bucket)+":*") || !slices.Contains(rules, "-@all") {
		t.Errorf("s3cache user: %q, want on, the bucket's keys (~%v:*) and -@all", access["s3cache"], bucket)
	}
	for _, r := range rules {
		switch {
		case r == "on" || r == "-@all":
		case strings.HasPrefix(r, "~"):
			if r != "~"+fmt.Sprint(bucket)+":*" {
				t.Errorf("s3cache user: key pattern %s, want only the bucket's keys", r)
			}
		case strings.HasPrefix(r, "+@") || strings.HasPrefix(r, "&") || strings.HasPrefix(r, "%") || r == "allkeys" || r == "allcommands":
			t.Errorf("s3cache user: %s grants more than single commands", r)
		case strings.HasPrefix(r, "+"):
			cmd, _, _ := strings.Cut(r[1:], "|")
			if slices.Contains([]string{"flushall", "flushdb", "keys", "config", "script", "acl", "debug", "shutdown", "monitor", "client", "module", "save", "bgsave", "replicaof", "slaveof", "migrate", "restore", "function", "eval_ro", "move", "swapdb", "object"}, cmd) {
				t.Errorf("s3cache user: %s reaches beyond the bucket's entries", r)
			}
		default:
			t.Errorf("s3cache user: unexpected rule %s", r)
		}
	}
	if got := access["s3cache-admin"]; got != "on ~* &* +@all" {
		t.Errorf("s3cache-admin user: %q, want on ~* &* +@all", got)
	}

	// Generated passwords: letters and digits (ExcludePunctuation), 16 to 128 of them.
	for _, name := range resourcesOfType(rt, "AWS::SecretsManager::Secret") {
		g, _ := rt.Resources[name].Properties["GenerateSecretString"].(map[string]any)
		n, _ := strconv.Atoi(scalar(g["PasswordLength"]))
		if g["ExcludePunctuation"] != true || g["IncludeSpace"] == true || n < 16 || n > 128 || g["GenerateStringKey"] != "password" {
			t.Errorf("%s GenerateSecretString %s: want a 16–128 character password of letters and digits under the key password", name, expr(g))
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

// TestTemplate_IAMLeastPrivilege checks every grant in the stack: the daemon's policy,
// the host role (no AWS-managed policy, no writes), the optional CLI role limited to the
// load prefix, the redrive role; that nothing else grants a wildcard action or resource;
// and who may assume each role.
func TestTemplate_IAMLeastPrivilege(t *testing.T) {
	rt := loadRaw(t)
	const (
		queue   = "!GetAtt Queue.Arn"
		dlq     = "!GetAtt DeadLetterQueue.Arn"
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
		"HostRole/SessionManager": {
			{"Allow", []string{"ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"}, []string{"*"}},
			{"Allow", []string{"ssm:UpdateInstanceInformation"}, []string{"!Sub arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*"}},
		},
		"HostRole/ReadRedisPassword": {
			{"Allow", []string{"secretsmanager:GetSecretValue"}, []string{"!Ref RedisSecret"}},
		},
		// No Redis admin password: any process on the host may assume this role.
		"CliRole/Load": {
			{"Allow", []string{"s3:DeleteObject", "s3:PutObject"}, []string{"!Sub ${Bucket.Arn}/${LoadPrefix}*"}},
			{"Allow", []string{"s3:GetObject"}, []string{objects}},
			{"Allow", []string{"s3:ListBucket"}, []string{bucket}},
		},
		"HostMayAssumeCliRole": {
			{"Allow", []string{"sts:AssumeRole"}, []string{"!GetAtt CliRole.Arn"}},
		},
		"RedriveRole/Redrive": {
			{"Allow", []string{"sqs:CancelMessageMoveTask", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ListMessageMoveTasks", "sqs:ReceiveMessage", "sqs:StartMessageMoveTask"}, []string{dlq}},
			{"Allow", []string{"sqs:GetQueueAttributes", "sqs:SendMessage"}, []string{queue}},
		},
	}
	// Every identity policy document in the stack, by name.
	got := map[string]any{}
	for name, r := range rt.Resources {
		switch r.Type {
		case "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy":
			got[name] = r.Properties["PolicyDocument"]
		case "AWS::IAM::Role":
			pols, _ := r.Properties["Policies"].([]any)
			for _, p := range pols {
				m := p.(map[string]any)
				got[name+"/"+fmt.Sprint(m["PolicyName"])] = m["PolicyDocument"]
			}
		case "AWS::IAM::Policy", "AWS::IAM::UserPolicy", "AWS::IAM::GroupPolicy", "AWS::IAM::User":
			t.Errorf("%s: %s is not expected; grants belong to the roles above", name, r.Type)
		}
	}
	if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, w) {
		t.Errorf("policies: got %v, want %v", g, w)
	}
	for name, doc := range got {
		if st := statements(t, doc); !reflect.DeepEqual(st, want[name]) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, st, want[name])
		}
	}
	// No wildcard action anywhere; "*" as a resource only for ssmmessages, which has no
	// resource types.
	for name, doc := range got {
		for _, st := range statements(t, doc) {
			for _, a := range st.Actions {
				if strings.Contains(a, "*") {
					t.Errorf("%s: allows wildcard action %s", name, a)
				}
			}
			for _, res := range st.Resources {
				if (res == "*" || strings.HasSuffix(res, ":*")) && !allPrefixed(st.Actions, "ssmmessages:") {
					t.Errorf("%s: allows %v on every resource (%s)", name, st.Actions, res)
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
	if !slices.Equal(roles, []string{"CliRole", "HostRole", "RedriveRole"}) {
		t.Fatalf("roles: got %v, want [CliRole HostRole RedriveRole]", roles)
	}
	if got := strList(rt.Resources["HostRole"].Properties["ManagedPolicyArns"]); !slices.Equal(got, []string{"!Ref DaemonPolicy"}) {
		t.Errorf("HostRole ManagedPolicyArns: got %v, want [!Ref DaemonPolicy] (no AWS-managed policy)", got)
	}
	if c := rt.Resources["CliRole"].Condition; c != "CliWriteEnabled" || rt.Resources["HostMayAssumeCliRole"].Condition != c {
		t.Errorf("CliRole and HostMayAssumeCliRole: conditions %q, %q; want both CliWriteEnabled (optional)", c, rt.Resources["HostMayAssumeCliRole"].Condition)
	}
	for role, principal := range map[string]string{
		"HostRole":    `{"Service":"ec2.amazonaws.com"}`,
		"CliRole":     `{"AWS":{"Fn::GetAtt":"HostRole.Arn"}}`,
		"RedriveRole": `{"AWS":{"Fn::Sub":"arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}`,
	} {
		trust := rt.Resources[role].Properties["AssumeRolePolicyDocument"].(map[string]any)["Statement"].([]any)
		if len(trust) != 1 || expr(trust[0].(map[string]any)["Principal"]) != principal ||
			strings.Join(strList(trust[0].(map[string]any)["Action"]), ",") != "sts:AssumeRole" {
			t.Errorf("%s trust policy: got %s, want %s sts:AssumeRole only", role, expr(trust), principal)
		}
	}
}

func allPrefixed(actions []string, prefix string) bool {
	for _, a := range actions {
		if !strings.HasPrefix(a, prefix) {
			return false
		}
	}
	return len(actions) > 0
}
