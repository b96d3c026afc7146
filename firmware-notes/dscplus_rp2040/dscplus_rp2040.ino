// tokensim reference firmware for an RP2040 board (Raspberry Pi Pico and friends) with the
// arduino-pico core (Earle Philhower): the board acts as a DSC+.
//
// Build: arduino-cli compile --fqbn rp2040:rp2040:rpipico --library ../tsim dscplus_rp2040
// See ../README.md for flashing and troubleshooting, ../wire-protocol.md for the protocol.
//
// - The RP2040 has no EEPROM: arduino-pico emulates one in the last 4 KB sector of the flash;
//   EEPROM.commit() erases and rewrites that sector (about 100,000 erase cycles).
// - Jumper GP15 to GND while the board resets to boot in provisioning mode.
// - USB CDC: the board does not reset when the port opens, and TinyUSB only sends while the host
//   asserts DTR (pyserial does by default; never open the port with dtr=False). So READY goes out
//   each time a host raises DTR, which is when it opens the port.

#include <EEPROM.h>
#include <tsim.h>

static const uint8_t PROVISION_PIN = 15;
static const int IMAGE_ADDRESS = 0;
static const char BOARD_ID[] = "pico-1";

static tsim_device dev;
static tsim_config config;
static uint8_t out[TSIM_MAX_FRAME];
static bool host_was_there = false;
static bool provisioning_held = false;

static int save_image(void *user, const uint8_t *image, size_t len) {
  (void)user;
  for (size_t i = 0; i < len; i++) {
    EEPROM.write(IMAGE_ADDRESS + (int)i, image[i]);
  }
  return EEPROM.commit() ? 0 : -1;
}

static void boot_core() {
  uint8_t image[TSIM_IMAGE_SIZE];
  for (int i = 0; i < TSIM_IMAGE_SIZE; i++) {
    image[i] = EEPROM.read(IMAGE_ADDRESS + i);
  }
  tsim_device_init(&dev, &config, image, sizeof image, provisioning_held);
  memset(image, 0, sizeof image);
}

void setup() {
  pinMode(PROVISION_PIN, INPUT_PULLUP);
  provisioning_held = digitalRead(PROVISION_PIN) == LOW;
  Serial.begin(115200);  // the baud rate is ignored on USB CDC
  EEPROM.begin(256);
  config.firmware[0] = 1;
  config.firmware[1] = 0;
  config.firmware[2] = 0;
  config.capabilities = TSIM_CORE_CAPABILITIES | TSIM_CAP_PERSISTENT;
  config.board_id = BOARD_ID;
  config.save = save_image;
  config.user = NULL;
  boot_core();
}

void loop() {
  bool host = (bool)Serial;  // true while the host asserts DTR
  if (host && !host_was_there) {
    // A host opened the port: start a fresh session as an Uno's auto-reset would.
    boot_core();
    Serial.write(out, tsim_device_ready(&dev, out, sizeof out));
  }
  host_was_there = host;
  while (Serial.available() > 0) {
    size_t n = tsim_device_feed(&dev, (uint8_t)Serial.read(), out, sizeof out);
    if (n > 0) {
      Serial.write(out, n);
    }
  }
}
