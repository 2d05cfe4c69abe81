{
  "targets": [
    {
      "target_name": "rackboot_packet",
      "sources": ["packet.c"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
