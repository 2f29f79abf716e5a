package canonjson_test

import (
	"fmt"

	"github.com/condatrust/condatrust/canonjson"
)

// The signed bytes of any conda content-trust document are its canonical
// form: sorted keys, two-space indentation, ASCII escapes, Python number
// formatting and no trailing newline.
func ExampleCanonicalize() {
	out, err := canonjson.Canonicalize([]byte(`{"name":"café","size":1E3,"depends":[]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(out))
	// Output:
	// {
	//   "depends": [],
	//   "name": "caf\u00e9",
	//   "size": 1000.0
	// }
}

func ExampleParse() {
	v, err := canonjson.Parse([]byte(`{"version": 2, "version": 3, "big": 12345678901234567890}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	ver, _ := v.Get("version")
	big, _ := v.Get("big")
	fmt.Println(ver.NumberText(), big.NumberText())
	_, err = canonjson.Parse([]byte(`{"a": NaN}`))
	fmt.Println(err)
	// Output:
	// 3 12345678901234567890
	// invalid JSON at line 1, column 7 (byte 6): NaN and Infinity are not JSON and cannot be signed
}
