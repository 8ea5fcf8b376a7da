package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const cleanupUsage = `
Usage: s3cache cleanup [flags]

Deletes from S3CACHE_BUCKET the objects that s3cache load uploaded with the same
--count and --prefix: of <prefix>filename0.txt … <prefix>filename<count-1>.txt, those
that carry load's mark (the user metadata s3cache-load: 1), and nothing else, with
batched DeleteObjects calls (the AWS sample's delete_S3_objects.py). An object of one
of those names without the mark is someone else's, or from an s3cache older than the
mark: cleanup leaves it and lists it. Each delete is conditional on the ETag that was
checked, so an object replaced in between is left too. With s3cached running, the
deletions evict the cached copies.

--dry-run lists what would be deleted and what would be left, and deletes nothing.

Example:
  S3CACHE_BUCKET=my-bucket s3cache cleanup --count 100 --dry-run
  S3CACHE_BUCKET=my-bucket s3cache cleanup --count 100
`

// deleteBatch is the most keys one DeleteObjects call takes.
const deleteBatch = 1000

// headConcurrency is how many HeadObject calls cleanup makes at a time to read marks.
const headConcurrency = 16

func runCleanup(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("cleanup", flag.ContinueOnError)
	count := fs.Int("count", 100, "the --count given to load")
	prefix := fs.String("prefix", "", "the --prefix given to load")
	dryRun := fs.Bool("dry-run", false, "list what would be deleted and what would be left; delete nothing")
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

	found, err := e.findGenerated(ctx, s3c, bucket, *prefix, *count, headConcurrency)
	if err != nil {
		return err
	}
	var marked []generated
	var unmarked []string
	for _, g := range found {
		if g.marked {
			marked = append(marked, g)
		} else {
			unmarked = append(unmarked, g.key)
		}
	}
	first, last := objectName(*prefix, 0), objectName(*prefix, *count-1)
	missing := *count - len(found)

	if *dryRun {
		fmt.Fprintf(e.stdout, "dry run: would delete %s (%s … %s) from s3://%s%s\n", plural(len(marked), "object"), first, last, bucket, notThere(missing))
		for _, g := range marked {
			fmt.Fprintf(e.stdout, "  %s\n", g.key)
		}
		printLeft(e.stdout, "would leave", unmarked, nil)
		fmt.Fprintln(e.stdout, "nothing deleted (--dry-run)")
		return nil
	}
	if len(marked) == 0 {
		if len(found) == 0 {
			fmt.Fprintf(e.stdout, "nothing to delete: none of %s … %s is in s3://%s\n", first, last, bucket)
		} else {
			fmt.Fprintf(e.stdout, "nothing to delete: none of %s … %s in s3://%s carries load's mark\n", first, last, bucket)
		}
		printLeft(e.stdout, "left", unmarked, nil)
		return nil
	}

	bar := e.newProgress(int64(len(marked)), "deleting")
	defer bar.done()
	deleted := 0
	var changed []string
	for start := 0; start < len(marked); start += deleteBatch {
		batch := marked[start:min(start+deleteBatch, len(marked))]
		ids := make([]types.ObjectIdentifier, len(batch))
		for i, g := range batch {
			// The ETag makes the delete conditional: an object replaced since it was
			// checked (by one without the mark, perhaps) fails with PreconditionFailed
			// instead of being deleted.
			ids[i] = types.ObjectIdentifier{Key: aws.String(g.key), ETag: aws.String(g.etag)}
		}
		out, err := s3c.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return explainS3(fmt.Errorf("delete objects from s3://%s: %w; %d deleted before", bucket, err, deleted), bucket)
		}
		var msgs []string
		failed := 0
		for _, fe := range out.Errors {
			if aws.ToString(fe.Code) == "PreconditionFailed" {
				changed = append(changed, aws.ToString(fe.Key))
				continue
			}
			failed++
			if len(msgs) < 3 {
				msgs = append(msgs, fmt.Sprintf("%s: %s %s", aws.ToString(fe.Key), aws.ToString(fe.Code), aws.ToString(fe.Message)))
			}
		}
		deleted += len(batch) - len(out.Errors)
		if failed > 0 {
			return explainS3(fmt.Errorf("delete objects from s3://%s: %d of %d failed (%s); %d deleted before", bucket, failed, len(batch), strings.Join(msgs, "; "), deleted), bucket)
		}
		bar.add(len(batch))
	}
	fmt.Fprintf(e.stdout, "deleted %s (%s … %s) from s3://%s%s\n", plural(deleted, "object"), first, last, bucket, notThere(missing))
	printLeft(e.stdout, "left", unmarked, changed)
	return nil
}

// notThere is "; N were not there" for the generated names that no object has.
func notThere(missing int) string {
	switch {
	case missing == 1:
		return "; 1 was not there"
	case missing > 1:
		return fmt.Sprintf("; %d were not there", missing)
	}
	return ""
}

// printLeft lists the objects cleanup did not delete, or would not: unmarked, those
// without load's mark; changed, those replaced between check and delete. verb is "left"
// or "would leave".
func printLeft(w io.Writer, verb string, unmarked, changed []string) {
	if len(unmarked) > 0 {
		fmt.Fprintf(w, "%s %s alone (no %s metadata: not uploaded by s3cache load, or by one older than the mark):\n", verb, plural(len(unmarked), "object"), loadMarkKey)
		for _, k := range unmarked {
			fmt.Fprintf(w, "  %s\n", k)
		}
	}
	if len(changed) > 0 {
		fmt.Fprintf(w, "%s %s alone (replaced between check and delete):\n", verb, plural(len(changed), "object"))
		for _, k := range changed {
			fmt.Fprintf(w, "  %s\n", k)
		}
	}
	switch len(unmarked) + len(changed) {
	case 0:
	case 1:
		fmt.Fprintln(w, "delete it yourself (aws s3 rm) if it is disposable")
	default:
		fmt.Fprintln(w, "delete them yourself (aws s3 rm) if they are disposable")
	}
}
