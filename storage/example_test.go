package storage_test

import (
	"context"
	"fmt"
	"os"

	"github.com/condatrust/condatrust/storage"
)

// A Folder is the Store of a local channel folder: objects are files,
// written atomically.
func ExampleFolder() {
	dir, _ := os.MkdirTemp("", "channel")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st := storage.NewFolder(dir)
	_ = st.Put(ctx, "noarch/repodata.json", []byte(`{"packages":{}}`))
	objs, _ := st.List(ctx, "noarch")
	for _, o := range objs {
		fmt.Println(o.Name, o.Size)
	}
	data, _ := storage.ReadAll(ctx, st, "noarch/repodata.json")
	fmt.Println(string(data))
	// Output:
	// repodata.json 15
	// {"packages":{}}
}
