package storage_test

import (
	"testing"

	"github.com/condatrust/condatrust/storage"
	"github.com/condatrust/condatrust/storage/storagetest"
)

func TestFolderConformance(t *testing.T) {
	storagetest.Run(t, storage.NewFolder(t.TempDir()))
}
