"""lab/ha/patroni.yml rendered by lab.ha.patroni: what the README promises is in it."""
import yaml

from lab.ha.patroni import main, render


def test_rendered_node_is_synchronous_with_its_addresses_and_network(capsys):
    main(["--name", "pg2", "--address", "10.0.0.22", "--etcd", "10.0.0.31:2379",
          "--etcd", "10.0.0.32:2379", "--network", "10.0.0.0/24",
          "--superuser-password", "s:1", "--replication-password", "r'2"])
    config = yaml.safe_load(capsys.readouterr().out)
    assert (config["scope"], config["name"]) == ("maas", "pg2")
    assert config["etcd3"]["hosts"] == "10.0.0.31:2379,10.0.0.32:2379"
    assert config["restapi"]["connect_address"] == "10.0.0.22:8008"
    assert config["postgresql"]["connect_address"] == "10.0.0.22:5432"
    dcs = config["bootstrap"]["dcs"]
    assert dcs["synchronous_mode"] is True and dcs["synchronous_mode_strict"] is False
    assert dcs["postgresql"]["parameters"]["synchronous_commit"] == "on"
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (20, 2, 5)
    assert "host all all 10.0.0.0/24 scram-sha-256" in config["postgresql"]["pg_hba"]
    auth = config["postgresql"]["authentication"]
    assert (auth["superuser"]["password"], auth["replication"]["password"]) == ("s:1", "r'2")


def test_test_cluster_node_trusts_loopback_and_has_no_passwords():
    config = yaml.safe_load(render("pg1", "127.0.0.1", ["127.0.0.1:2379"], network="127.0.0.1/32",
                                   data_dir="/tmp/d", auth="trust", timing=(10, 1, 3)))
    assert "host replication replicator 127.0.0.1/32 trust" in config["postgresql"]["pg_hba"]
    assert config["postgresql"]["authentication"]["superuser"] == {"username": "postgres"}
    assert config["bootstrap"]["dcs"]["ttl"] == 10
