// Package cfn holds the CloudFormation template that deploys s3cache on AWS
// (template.yaml: bucket → SQS notifications with a dead-letter queue, ElastiCache for
// Redis, and an EC2 or Cloud9 host with least-privilege IAM; see README.md here). Its tests
// parse the template with goformation and check the wiring, the security properties and
// the outputs.
package cfn

import _ "embed"

// Template is the CloudFormation template, cfn/template.yaml.
//
//go:embed template.yaml
var Template []byte
