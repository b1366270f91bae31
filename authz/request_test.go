package authz

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
)

// The testdata bodies are what docker CLI 28.2 sends (API 1.41) for:
//
//	run-v-myvol-proc-x:          docker run -v myvol:/proc/x busybox true
//	create-mount-volume-etc:     docker create --mount type=volume,src=myvol,dst=/etc busybox
//	create-volume-driver-mixed:  docker create --volume-driver s3vol -v newvol:/data:ro -v /anon
//	                             -v /host:/h --mount type=volume,dst=/m,volume-driver=s3vol,volume-opt=a=b
//	                             --mount type=bind,src=/tmp,dst=/t --tmpfs /tmpfs --name foo busybox
//	compose-named-volume:        docker-compose 1.29 up, service volume data:/proc/x of a volume
//	                             declared with driver s3vol (project "bad")
//	compose-long-volume:         the same with the long syntax {type: volume, source: data, target: /etc}
func TestVolumeMountsFromCLI(t *testing.T) {
	cases := map[string][]volumeMount{
		"run-v-myvol-proc-x.json": {
			{Name: "myvol", Target: "/proc/x", Origin: "HostConfig.Binds"},
		},
		"create-mount-volume-etc.json": {
			{Name: "myvol", Target: "/etc", Origin: "HostConfig.Mounts"},
		},
		"create-volume-driver-mixed.json": {
			{Name: "newvol", Target: "/data", Driver: "s3vol", Origin: "HostConfig.Binds"},
			{Target: "/m", Driver: "s3vol", Origin: "HostConfig.Mounts"},
			{Target: "/anon", Driver: "s3vol", Origin: "Volumes"},
		},
		"compose-named-volume.json": { // its Volumes repeats /proc/x: no anonymous volume
			{Name: "bad_data", Target: "/proc/x", Origin: "HostConfig.Binds"},
		},
		"compose-long-volume.json": {
			{Name: "bad_data", Target: "/etc", Origin: "HostConfig.Mounts"},
		},
	}
	for file, want := range cases {
		got, err := volumeMounts(readTestdata(t, file))
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", file, got, want)
		}
	}
}

func TestVolumeMountsBindForms(t *testing.T) {
	body := `{"Volumes": {"/data/": {}, "/anon": {}, "/h": {}},
	  "HostConfig": {"VolumeDriver": "drv", "Binds": [
		"myvol:/data", "ro-vol:/ro:ro,z", "/host/dir:/h", "/only-dst", "a:b:c:d", ":/empty-src", "relative-target:x"
	  ]}}`
	got, err := volumeMounts([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []volumeMount{
		{Name: "myvol", Target: "/data", Driver: "drv", Origin: "HostConfig.Binds"},
		{Name: "ro-vol", Target: "/ro", Driver: "drv", Origin: "HostConfig.Binds"},
		{Target: "/only-dst", Driver: "drv", Origin: "HostConfig.Binds"},
		{Name: "relative-target", Target: "x", Driver: "drv", Origin: "HostConfig.Binds"},
		{Target: "/anon", Driver: "drv", Origin: "Volumes"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}
}

func TestVolumeMountsMountTypes(t *testing.T) {
	body := `{"HostConfig": {"VolumeDriver": "ignored-for-mounts", "Mounts": [
		{"Type": "volume", "Source": "v1", "Target": "/a"},
		{"Type": "volume", "Source": "v2", "Target": "/b", "VolumeOptions": {"DriverConfig": {"Name": "local"}}},
		{"Type": "volume", "Target": "/c", "VolumeOptions": {"NoCopy": true}},
		{"Type": "bind", "Source": "/srv", "Target": "/etc"},
		{"Type": "tmpfs", "Target": "/proc/x"}
	]}}`
	got, err := volumeMounts([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []volumeMount{
		{Name: "v1", Target: "/a", Origin: "HostConfig.Mounts"},
		{Name: "v2", Target: "/b", Driver: "local", Origin: "HostConfig.Mounts"},
		{Target: "/c", Origin: "HostConfig.Mounts"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}
}

func TestVolumeMountsOddBodies(t *testing.T) {
	for _, body := range []string{`{}`, `{"HostConfig": null}`, `{"Volumes": null, "HostConfig": {}}`, `{"Image": "x"}`} {
		got, err := volumeMounts([]byte(body))
		if err != nil || len(got) != 0 {
			t.Errorf("volumeMounts(%s) = %v, %v; want none", body, got, err)
		}
	}
	// Anonymous volumes only: their order follows the map, so compare sorted.
	got, err := volumeMounts([]byte(`{"Volumes": {"/x": {}, "/y": {}}}`))
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, m := range got {
		targets = append(targets, m.Target)
	}
	sort.Strings(targets)
	if !reflect.DeepEqual(targets, []string{"/x", "/y"}) {
		t.Errorf("anonymous targets %v", targets)
	}
	for _, body := range []string{``, `{`, `[]`, `{"HostConfig": {"Binds": "x:/y"}}`, `{"HostConfig": {"Mounts": [{"Target": 7}]}}`} {
		if _, err := volumeMounts([]byte(body)); err == nil {
			t.Errorf("volumeMounts(%q) accepted a malformed body", body)
		}
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
