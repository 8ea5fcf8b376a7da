package testenv

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Settings the local AWS servers and the clients talking to them share.
const (
	Region          = "us-east-1"
	AccountID       = "100010001000"
	AccessKeyID     = "testenv"
	SecretAccessKey = "testenv-secret"
)

// AWSConfig returns an SDK configuration for the local server at endpoint: region
// us-east-1, static test credentials, and checksums only where required (as
// awsclient.Load sets them). It reads nothing from the process environment.
func AWSConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:                     Region,
		Credentials:                credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		BaseEndpoint:               aws.String(endpoint),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
}

// AWSEnv returns the environment (KEY=value) that points an SDK-based program, such as
// the daemon run as a subprocess, at the local servers: region, static credentials,
// AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_SQS, and no EC2 metadata lookups. Either
// server may be nil; its endpoint is then left out. Append it to os.Environ() so that it
// overrides the developer's own AWS settings.
func AWSEnv(s3 *S3, q *SQS) []string {
	env := []string{
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	if s3 != nil {
		env = append(env, "AWS_ENDPOINT_URL_S3="+s3.Endpoint)
	}
	if q != nil {
		env = append(env, "AWS_ENDPOINT_URL_SQS="+q.Endpoint)
	}
	return env
}
