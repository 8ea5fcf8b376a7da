package latency

import "errors"

// Proxies are one profile's proxies in front of the three services the daemon talks
// to: S3Get delays GetObject at S3, SQSCall every SQS call (and long polls are answered
// as SQS answers them, StartSQS), RedisRTT Redis's replies.
// The benchmark and the sandbox put them between their clients and their servers.
type Proxies struct {
	S3, SQS *HTTPProxy
	Redis   *TCPProxy
}

// StartProxies starts p's proxies in front of an S3 server and an SQS server
// (http://host:port) and a Redis server (host:port). If one fails to start, it closes
// those already started.
func StartProxies(p Profile, s3URL, sqsURL, redisAddr string) (_ *Proxies, err error) {
	var ps Proxies
	defer func() {
		if err != nil {
			ps.Close()
		}
	}()
	if ps.S3, err = StartHTTP(s3URL, p.S3Delay); err != nil {
		return nil, err
	}
	if ps.SQS, err = StartSQS(sqsURL, p.SQSDelay); err != nil {
		return nil, err
	}
	if ps.Redis, err = StartTCP(redisAddr, p.RedisRTT); err != nil {
		return nil, err
	}
	return &ps, nil
}

// Close stops the proxies that were started.
func (ps *Proxies) Close() error {
	var errs []error
	if ps.S3 != nil {
		errs = append(errs, ps.S3.Close())
	}
	if ps.SQS != nil {
		errs = append(errs, ps.SQS.Close())
	}
	if ps.Redis != nil {
		errs = append(errs, ps.Redis.Close())
	}
	return errors.Join(errs...)
}
