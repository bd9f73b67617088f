"""The lab VMs' console text, made plain for matching (lab/vm.py)."""
from lab.vm import plain_console


def test_terminal_control_is_removed_from_the_console_text():
    raw = ("\x1bc\x1b[?7l\x1b[2JSeaBIOS\r\n\rLoading http://r/linux... ok\r\n"
           "\rL\r\x1b[25;02Hoading http://r/initrd.gz...ok\r\n"
           "Booting from the loca\x1b[25;21H\x1b[25;22Hl disk (vm)\r\n")
    assert plain_console(raw) == ("SeaBIOS\nLoading http://r/linux... ok\n"
                                  "Loading http://r/initrd.gz...ok\n"
                                  "Booting from the local disk (vm)\n")
