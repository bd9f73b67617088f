// Command gomaasapi-drive drives a MAAS API 2.0 server through Juju's own client library
// (github.com/juju/gomaasapi): list zones and machines, allocate by constraints, deploy with
// user data, wait for Deployed, release, wait for Ready. It prints one JSON line per step so
// that the Python test can check what the client saw; any error exits 1 with the error.
//
// Usage: MAAS_URL=http://127.0.0.1:5240/MAAS/ MAAS_KEY=consumer:token:secret gomaasapi-drive ZONE
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/juju/gomaasapi"
)

func say(step string, fields map[string]interface{}) {
	fields["step"] = step
	line, _ := json.Marshal(fields)
	fmt.Println(string(line))
}

func fail(step string, err error) {
	say(step, map[string]interface{}{"error": err.Error()})
	os.Exit(1)
}

func waitFor(controller gomaasapi.Controller, systemID, status string) gomaasapi.Machine {
	deadline := time.Now().Add(120 * time.Second)
	for {
		machines, err := controller.Machines(gomaasapi.MachinesArgs{SystemIDs: []string{systemID}})
		if err != nil {
			fail("wait "+status, err)
		}
		if len(machines) == 1 && machines[0].StatusName() == status {
			return machines[0]
		}
		if time.Now().After(deadline) {
			fail("wait "+status, fmt.Errorf("still %q", machines[0].StatusName()))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func main() {
	controller, err := gomaasapi.NewController(gomaasapi.ControllerArgs{
		BaseURL: os.Getenv("MAAS_URL"), APIKey: os.Getenv("MAAS_KEY")})
	if err != nil {
		fail("connect", err)
	}
	say("connect", map[string]interface{}{"capabilities": controller.Capabilities().SortedValues()})
	zones, err := controller.Zones()
	if err != nil {
		fail("zones", err)
	}
	names := []string{}
	for _, zone := range zones {
		names = append(names, zone.Name())
	}
	say("zones", map[string]interface{}{"names": names})
	machines, err := controller.Machines(gomaasapi.MachinesArgs{})
	if err != nil {
		fail("machines", err)
	}
	say("machines", map[string]interface{}{"count": len(machines)})
	machine, _, err := controller.AllocateMachine(gomaasapi.AllocateMachineArgs{
		Zone: os.Args[1], MinCPUCount: 1, AgentName: "gomaasapi-test"})
	if err != nil {
		fail("allocate", err)
	}
	say("allocate", map[string]interface{}{"system_id": machine.SystemID(),
		"status": machine.StatusName(), "zone": machine.Zone().Name()})
	userData := base64.StdEncoding.EncodeToString([]byte("#cloud-config\n"))
	if err := machine.Start(gomaasapi.StartArgs{DistroSeries: os.Getenv("MAAS_SERIES"),
		UserData: userData}); err != nil {
		fail("deploy", err)
	}
	deployed := waitFor(controller, machine.SystemID(), "Deployed")
	say("deployed", map[string]interface{}{"system_id": deployed.SystemID(),
		"power_state": deployed.PowerState(), "ip_addresses": deployed.IPAddresses()})
	if err := controller.ReleaseMachines(gomaasapi.ReleaseMachinesArgs{
		SystemIDs: []string{machine.SystemID()}, Comment: "done"}); err != nil {
		fail("release", err)
	}
	ready := waitFor(controller, machine.SystemID(), "Ready")
	say("released", map[string]interface{}{"system_id": ready.SystemID()})
	_, _, err = controller.AllocateMachine(gomaasapi.AllocateMachineArgs{MinCPUCount: 100000})
	say("allocate-no-match", map[string]interface{}{
		"no_match": gomaasapi.IsNoMatchError(err), "error": fmt.Sprint(err)})
}
