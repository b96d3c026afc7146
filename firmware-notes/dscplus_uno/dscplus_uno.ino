// tokensim reference firmware for an Arduino Uno or Nano (ATmega328P): the board acts as a DSC+.
//
// Build: arduino-cli compile --fqbn arduino:avr:uno --library ../tsim dscplus_uno
// (or copy firmware-notes/tsim into your Arduino libraries folder and open this sketch in the IDE).
// See ../README.md for flashing, wiring and troubleshooting, ../wire-protocol.md for the protocol.
//
// - The secret, suite and counter live in the first 60 bytes of EEPROM (tsim image with a CRC).
// - Jumper pin 7 to GND while the board resets to boot in provisioning mode; with nothing stored it
//   boots in provisioning mode anyway. Remove the jumper and reset to lock the secret in.
// - Set WITH_KEYPAD to 1 for the optional 4x4 keypad and 16x2 LCD (needs the "Keypad" library).

#include <EEPROM.h>
#include <tsim.h>

#define WITH_KEYPAD 0

static const uint8_t PROVISION_PIN = 7;
static const int IMAGE_ADDRESS = 0;
// Up to 16 printable characters; give each board its own.
static const char BOARD_ID[] = "uno-1";

#if WITH_KEYPAD
#include <Keypad.h>
#include <LiquidCrystal.h>
static const char KEYS[4][4] = {
    {'1', '2', '3', 'P'},  // A: PRESS (power)
    {'4', '5', '6', 'X'},
    {'7', '8', '9', 'X'},
    {'B', '0', 'K', 'X'},  // *: BACK, #: OK
};
static byte ROW_PINS[4] = {A0, A1, A2, A3};
static byte COL_PINS[4] = {6, 8, 9, 10};
static Keypad keypad = Keypad(makeKeymap(KEYS), ROW_PINS, COL_PINS, 4, 4);
static LiquidCrystal lcd(12, 11, 5, 4, 3, 2);
#endif

static tsim_device dev;
static tsim_config config;
static uint8_t out[TSIM_MAX_FRAME];

static int save_image(void *user, const uint8_t *image, size_t len) {
  (void)user;
  for (size_t i = 0; i < len; i++) {
    // update() writes only bytes that change: the EEPROM lasts about 100,000 writes per byte.
    EEPROM.update(IMAGE_ADDRESS + (int)i, image[i]);
  }
  for (size_t i = 0; i < len; i++) {
    if (EEPROM.read(IMAGE_ADDRESS + (int)i) != image[i]) {
      return -1;
    }
  }
  return 0;
}

void setup() {
  uint8_t image[TSIM_IMAGE_SIZE];
  pinMode(PROVISION_PIN, INPUT_PULLUP);
  Serial.begin(115200);
  for (int i = 0; i < TSIM_IMAGE_SIZE; i++) {
    image[i] = EEPROM.read(IMAGE_ADDRESS + i);
  }
  config.firmware[0] = 1;
  config.firmware[1] = 0;
  config.firmware[2] = 0;
  config.capabilities = TSIM_CORE_CAPABILITIES | TSIM_CAP_PERSISTENT;
#if WITH_KEYPAD
  config.capabilities |= TSIM_CAP_KEYPAD | TSIM_CAP_DISPLAY;
  lcd.begin(16, 2);
#endif
  config.board_id = BOARD_ID;
  config.save = save_image;
  config.user = NULL;
  tsim_device_init(&dev, &config, image, sizeof image, digitalRead(PROVISION_PIN) == LOW);
  memset(image, 0, sizeof image);
  // The host opened the port, which reset us: say READY.
  Serial.write(out, tsim_device_ready(&dev, out, sizeof out));
}

void loop() {
  while (Serial.available() > 0) {
    size_t n = tsim_device_feed(&dev, (uint8_t)Serial.read(), out, sizeof out);
    if (n > 0) {
      Serial.write(out, n);
    }
  }
#if WITH_KEYPAD
  char key = keypad.getKey();
  if (key != NO_KEY && key != 'X') {
    tsim_device_key(&dev, key);
    lcd.clear();
    lcd.print(dev.screen);
  }
#endif
}
