package modelgate_test

import (
	"context"
	"fmt"

	"github.com/modelgate/modelgate/pkg/modelgate"
)

// Scan a model file and act on the verdict, as a CI gate would.
func ExampleScan() {
	rep, err := modelgate.Scan(context.Background(),
		[]string{"../../internal/formats/picklefile/testdata/malicious/01-posix-system-p2.pkl"},
		modelgate.DefaultOptions())
	if err != nil {
		panic(err)
	}
	for _, f := range rep.Files() {
		for _, x := range f.Findings {
			if x.Severity >= modelgate.High {
				fmt.Println(x.Severity, x.RuleID, x.Evidence)
			}
		}
	}
	fmt.Println(rep.Verdict() == modelgate.Fail)
	// Output:
	// critical PICKLE-DANGEROUS-CALL posix.system('touch marker')
	// true
}

// Findings below the threshold do not fail a scan.
func ExampleOptions() {
	opts := modelgate.DefaultOptions()
	opts.FailOn = modelgate.Critical
	rep, _ := modelgate.Scan(context.Background(),
		[]string{"../../internal/formats/picklefile/testdata/benign/sklearn-linear-regression-p5.pkl"}, opts)
	fmt.Println(rep.Verdict() == modelgate.Pass, rep.Files()[0].Format)
	// Output: true pickle
}
