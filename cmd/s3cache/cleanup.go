package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const cleanupUsage = `
Usage: s3cache cleanup [flags]

Deletes from S3CACHE_BUCKET the objects that s3cache load uploads with the same
--count and --prefix: <prefix>filename0.txt … <prefix>filename<count-1>.txt, and
nothing else, with batched DeleteObjects calls (the AWS sample's delete_S3_objects.py).
With s3cached running, the deletions evict the cached copies too.

Example:
  S3CACHE_BUCKET=my-bucket s3cache cleanup --count 100
`

// deleteBatch is the most keys one DeleteObjects call takes.
const deleteBatch = 1000

func runCleanup(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("cleanup", flag.ContinueOnError)
	count := fs.Int("count", 100, "the --count given to load")
	prefix := fs.String("prefix", "", "the --prefix given to load")
	if done, err := e.parseFlags(fs, cleanupUsage, args); done || err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageErrorf("cleanup takes no arguments, got %q", fs.Args())
	case *count < 1:
		return usageErrorf("--count %d: want 1 or more", *count)
	}
	bucket, err := e.bucket()
	if err != nil {
		return err
	}
	s3c, err := e.s3(ctx)
	if err != nil {
		return err
	}

	// List what is there, so that only load's objects that exist are deleted and
	// counted.
	generated := make(map[string]bool, *count)
	for i := range *count {
		generated[objectName(*prefix, i)] = true
	}
	var found []types.ObjectIdentifier
	pages := s3.NewListObjectsV2Paginator(s3c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(*prefix + "filename")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return explainS3(fmt.Errorf("list s3://%s/%sfilename*: %w", bucket, *prefix, err), bucket)
		}
		for _, o := range page.Contents {
			if k := aws.ToString(o.Key); generated[k] {
				found = append(found, types.ObjectIdentifier{Key: aws.String(k)})
			}
		}
	}
	first, last := objectName(*prefix, 0), objectName(*prefix, *count-1)
	if len(found) == 0 {
		fmt.Fprintf(e.stdout, "nothing to delete: none of %s … %s is in s3://%s\n", first, last, bucket)
		return nil
	}

	bar := e.newProgress(int64(len(found)), "deleting")
	defer bar.done()
	deleted := 0
	for start := 0; start < len(found); start += deleteBatch {
		batch := found[start:min(start+deleteBatch, len(found))]
		out, err := s3c.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(bucket),
			Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return explainS3(fmt.Errorf("delete objects from s3://%s: %w", bucket, err), bucket)
		}
		if len(out.Errors) > 0 {
			var msgs []string
			for _, fe := range out.Errors[:min(3, len(out.Errors))] {
				msgs = append(msgs, fmt.Sprintf("%s: %s %s", aws.ToString(fe.Key), aws.ToString(fe.Code), aws.ToString(fe.Message)))
			}
			return explainS3(fmt.Errorf("delete objects from s3://%s: %d of %d failed (%s); %d deleted before", bucket, len(out.Errors), len(batch), strings.Join(msgs, "; "), deleted+len(batch)-len(out.Errors)), bucket)
		}
		deleted += len(batch)
		bar.add(len(batch))
	}
	fmt.Fprintf(e.stdout, "deleted %s (%s … %s) from s3://%s", plural(deleted, "object"), first, last, bucket)
	switch missing := *count - deleted; {
	case missing == 1:
		fmt.Fprint(e.stdout, "; 1 was not there")
	case missing > 1:
		fmt.Fprintf(e.stdout, "; %d were not there", missing)
	}
	fmt.Fprintln(e.stdout)
	return nil
}
