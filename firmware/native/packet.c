// rackboot_packet: AF_PACKET sockets, interface facts and kernel neighbour entries.
//
// Why an addon: DHCP replies go to hosts that have no address yet, ARP has to be
// answered and probed, and Node.js has no packet sockets. Only node_api.h and libuv
// (which Node itself exports) are used, so one build serves every Node with N-API 8.
//
// Exports:
//   open(ifname, ethertypes, bpf | null, onFrame, onError) -> { send(frame), close() }
//   interfaceInfo(ifname) -> { index, mac, mtu, up, running, ipv4: [{ address, prefix }] }
//   setNeighbor(ifname, ip, mac)
//   notifySystemd(socketPath, message)   one sd_notify(3) datagram (READY=1, WATCHDOG=1, ...)
//
// Every failure becomes a JS Error with `code` set to the errno name; nothing aborts.

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#define _GNU_SOURCE

#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23 // Linux 4.20; older kernel headers lack it
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

// Largest frame the socket can hand us: an IPv4 datagram of 64 KiB plus Ethernet
// and one VLAN header. veth and GRO can deliver frames far above the MTU.
#define RECV_BUFFER_SIZE (65535 + 14 + 4)
// Frames read per readiness callback. The poll is level-triggered, so stopping
// early loses nothing; it keeps a DHCP storm from starving TFTP timers.
#define MAX_FRAMES_PER_WAKEUP 256
// Receive queue wanted for boot storms (hundreds of DISCOVERs at once). The
// kernel caps plain SO_RCVBUF at net.core.rmem_max; SO_RCVBUFFORCE needs
// CAP_NET_ADMIN, so we try that first and accept whatever we get.
#define WANTED_RCVBUF (4 * 1024 * 1024)
#define MAX_ETHERTYPES 16

#define CAP_HINT_RAW                                                                          \
  "run as root, or grant the capability (systemd AmbientCapabilities=CAP_NET_RAW, or setcap " \
  "cap_net_raw+ep on node)"
#define CAP_HINT_ADMIN                                                                          \
  "run as root, or grant the capability (systemd AmbientCapabilities=CAP_NET_ADMIN, or setcap " \
  "cap_net_admin+ep on node)"

// ---------------------------------------------------------------------------
// Errors

static const char *errno_name(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOSPC: return "ENOSPC";
    case ERANGE: return "ERANGE";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ENETDOWN: return "ENETDOWN";
    case ENETUNREACH: return "ENETUNREACH";
    case ENOBUFS: return "ENOBUFS";
    case EMSGSIZE: return "EMSGSIZE";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ETIMEDOUT: return "ETIMEDOUT";
    default: return "EUNKNOWN";
  }
}

// Builds an Error with `code`; returns NULL only if N-API itself failed (an
// exception is then already pending).
static napi_value make_error(napi_env env, const char *code, const char *fmt, ...) {
  char message[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  napi_value js_code = NULL, js_message, error;
  if (code != NULL && napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &js_code) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &js_message) != napi_ok) return NULL;
  if (napi_create_error(env, js_code, js_message, &error) != napi_ok) return NULL;
  return error;
}

static void throw_value(napi_env env, napi_value error) {
  if (error != NULL) napi_throw(env, error);
}

// "<what>: <strerror>" with code = errno name.
static void throw_errno(napi_env env, int err, const char *what) {
  throw_value(env, make_error(env, errno_name(err), "%s: %s", what, strerror(err)));
}

static void throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
}

static void throw_no_interface(napi_env env, const char *ifname) {
  throw_value(env, make_error(env, "ENODEV", "no such network interface: %s", ifname));
}

// ---------------------------------------------------------------------------
// Argument helpers. Each returns false with a TypeError pending on bad input.

static bool get_string(napi_env env, napi_value value, char *out, size_t size, const char *name) {
  napi_valuetype type;
  size_t length;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_string) {
    char message[128];
    snprintf(message, sizeof message, "%s must be a string", name);
    throw_type(env, message);
    return false;
  }
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return false;
  if (length == 0 || length >= size) {
    char message[128];
    snprintf(message, sizeof message, "%s must be 1 to %zu characters long", name, size - 1);
    throw_type(env, message);
    return false;
  }
  return napi_get_value_string_utf8(env, value, out, size, &length) == napi_ok;
}

static bool get_ifname(napi_env env, napi_value value, char out[IF_NAMESIZE]) {
  return get_string(env, value, out, IF_NAMESIZE, "interface name");
}

// An integral number in [0, max].
static bool get_uint(napi_env env, napi_value value, double max, uint32_t *out, const char *name) {
  napi_valuetype type;
  double number;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number ||
      napi_get_value_double(env, value, &number) != napi_ok || number < 0 || number > max ||
      number != (double)(uint32_t)number) {
    char message[160];
    snprintf(message, sizeof message, "%s must be an integer from 0 to %.0f", name, max);
    throw_type(env, message);
    return false;
  }
  *out = (uint32_t)number;
  return true;
}

static bool get_function(napi_env env, napi_value value, const char *name) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_function) {
    char message[128];
    snprintf(message, sizeof message, "%s must be a function", name);
    throw_type(env, message);
    return false;
  }
  return true;
}

static bool get_named_uint(napi_env env, napi_value object, const char *key, double max, uint32_t *out,
                           const char *name) {
  napi_value value;
  if (napi_get_named_property(env, object, key, &value) != napi_ok) return false;
  return get_uint(env, value, max, out, name);
}

// Reads [{code, jt, jf, k}, ...] into a freshly allocated array (caller frees).
static bool get_bpf(napi_env env, napi_value value, struct sock_filter **out, uint32_t *count) {
  bool is_array;
  uint32_t length;
  if (napi_is_array(env, value, &is_array) != napi_ok) return false;
  if (!is_array || napi_get_array_length(env, value, &length) != napi_ok || length == 0 ||
      length > BPF_MAXINSNS) {
    throw_type(env, "bpf must be null or an array of 1 to 4096 {code, jt, jf, k} instructions");
    return false;
  }
  struct sock_filter *program = calloc(length, sizeof *program);
  if (program == NULL) {
    throw_errno(env, ENOMEM, "bpf");
    return false;
  }
  for (uint32_t i = 0; i < length; i++) {
    napi_value insn;
    napi_valuetype type;
    uint32_t code, jt, jf, k;
    if (napi_get_element(env, value, i, &insn) != napi_ok || napi_typeof(env, insn, &type) != napi_ok ||
        type != napi_object) {
      throw_type(env, "bpf instructions must be {code, jt, jf, k} objects");
      free(program);
      return false;
    }
    if (!get_named_uint(env, insn, "code", 0xffff, &code, "bpf code") ||
        !get_named_uint(env, insn, "jt", 0xff, &jt, "bpf jt") || !get_named_uint(env, insn, "jf", 0xff, &jf, "bpf jf") ||
        !get_named_uint(env, insn, "k", 4294967295.0, &k, "bpf k")) {
      free(program);
      return false;
    }
    program[i] = (struct sock_filter){.code = (uint16_t)code, .jt = (uint8_t)jt, .jf = (uint8_t)jf, .k = k};
  }
  *out = program;
  *count = length;
  return true;
}

// ---------------------------------------------------------------------------
// Interface lookups via ioctl on a throwaway datagram socket (needs no privilege).

static int control_socket(void) {
  return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

// Returns 0 or an errno (ENODEV when the interface does not exist).
static int interface_ioctl(int fd, unsigned long request, const char *ifname, struct ifreq *ifr) {
  memset(ifr, 0, sizeof *ifr);
  snprintf(ifr->ifr_name, sizeof ifr->ifr_name, "%s", ifname);
  return ioctl(fd, request, ifr) < 0 ? errno : 0;
}

static int lookup_ifindex(const char *ifname, int *index) {
  int fd = control_socket();
  if (fd < 0) return errno;
  struct ifreq ifr;
  int err = interface_ioctl(fd, SIOCGIFINDEX, ifname, &ifr);
  if (err == 0) *index = ifr.ifr_ifindex;
  close(fd);
  return err;
}

static void throw_lookup_error(napi_env env, int err, const char *ifname, const char *what) {
  if (err == ENODEV || err == ENXIO) {
    throw_no_interface(env, ifname);
  } else {
    char context[96];
    snprintf(context, sizeof context, "%s %s", what, ifname);
    throw_errno(env, err, context);
  }
}

// ---------------------------------------------------------------------------
// Packet handle

typedef enum { POLL_NONE, POLL_OPEN, POLL_CLOSING, POLL_CLOSED } poll_state;

typedef struct {
  napi_env env;
  uv_poll_t poll;
  poll_state state;
  int fd;
  int ifindex;
  char ifname[IF_NAMESIZE];
  unsigned char *buffer;
  napi_ref on_frame;
  napi_ref on_error;
  napi_ref self; // keeps the JS wrapper (and so this struct) alive while polling
  napi_async_context async_context;
  bool cleanup_hook; // registered while the poll handle may still call back
  bool env_gone;     // the env is being torn down: touch no N-API from here on
  bool finalized;    // the JS wrapper was collected: free on poll close
} packet_handle;

static void packet_free(packet_handle *h) {
  free(h->buffer);
  free(h);
}

static void release_js_state(packet_handle *h) {
  napi_env env = h->env;
  if (h->on_frame != NULL) napi_delete_reference(env, h->on_frame);
  if (h->on_error != NULL) napi_delete_reference(env, h->on_error);
  if (h->async_context != NULL) napi_async_destroy(env, h->async_context);
  if (h->self != NULL) napi_delete_reference(env, h->self);
  h->on_frame = h->on_error = h->self = NULL;
  h->async_context = NULL;
}

static void env_cleanup(void *arg);

static void on_poll_closed(uv_handle_t *handle) {
  packet_handle *h = handle->data;
  h->state = POLL_CLOSED;
  if (!h->env_gone) {
    napi_handle_scope scope;
    bool scoped = napi_open_handle_scope(h->env, &scope) == napi_ok;
    if (h->cleanup_hook) napi_remove_env_cleanup_hook(h->env, env_cleanup, h);
    h->cleanup_hook = false;
    release_js_state(h);
    if (scoped) napi_close_handle_scope(h->env, scope);
  }
  if (h->finalized) packet_free(h);
}

// Stops polling and closes the socket. uv_close removes the fd from epoll at once,
// so closing the fd right after is safe; the struct lives until on_poll_closed.
static void packet_shutdown(packet_handle *h) {
  if (h->state != POLL_OPEN) return;
  h->state = POLL_CLOSING;
  uv_close((uv_handle_t *)&h->poll, on_poll_closed);
  if (h->fd >= 0) {
    close(h->fd);
    h->fd = -1;
  }
}

static void env_cleanup(void *arg) {
  packet_handle *h = arg;
  h->env_gone = true;
  h->cleanup_hook = false;
  packet_shutdown(h);
}

static void packet_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  packet_handle *h = data;
  h->finalized = true;
  // While the poll handle is open or closing, libuv still owns &h->poll.
  if (h->state == POLL_NONE || h->state == POLL_CLOSED) packet_free(h);
}

// Calls fn(arg) as a top-level callback (microtasks and async hooks run as for any
// I/O callback). A throw becomes an uncaught exception, as in any Node callback.
static bool call_js_args(packet_handle *h, napi_ref fn_ref, size_t argc, napi_value *argv) {
  napi_env env = h->env;
  napi_value fn, self;
  if (fn_ref == NULL || napi_get_reference_value(env, fn_ref, &fn) != napi_ok || fn == NULL) return false;
  if (napi_get_reference_value(env, h->self, &self) != napi_ok || self == NULL) return false;
  napi_status status = napi_make_callback(env, h->async_context, self, fn, argc, argv, NULL);
  if (status == napi_pending_exception) {
    napi_value exception;
    if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) napi_fatal_exception(env, exception);
    return false;
  }
  return status == napi_ok;
}

static bool call_js(packet_handle *h, napi_ref fn_ref, napi_value arg) {
  return call_js_args(h, fn_ref, 1, &arg);
}

static void report_error(packet_handle *h, int err, const char *what) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(h->env, &scope) != napi_ok) return;
  char context[160];
  snprintf(context, sizeof context, "%s on %s", what, h->ifname);
  napi_value error = make_error(h->env, errno_name(err), "%s: %s", context, strerror(err));
  if (error != NULL) call_js(h, h->on_error, error);
  napi_close_handle_scope(h->env, scope);
}

static void on_readable(uv_poll_t *poll, int status, int events) {
  (void)events;
  packet_handle *h = poll->data;
  if (h->state != POLL_OPEN) return;
  if (status < 0) {
    // libuv turns POLLERR into UV_EBADF and stops the handle. On a packet socket
    // POLLERR is usually a pending socket error: ENETDOWN when the link drops. The
    // kernel rebinds the socket when the link comes back, so report the error,
    // clear it (SO_ERROR does) and keep polling. Anything else is fatal.
    int socket_error = 0;
    socklen_t length = sizeof socket_error;
    if (status == UV_EBADF && getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &socket_error, &length) == 0 &&
        socket_error != 0) {
      report_error(h, socket_error, "receiving");
      if (h->state != POLL_OPEN) return; // onError closed the handle
      int rc = uv_poll_start(&h->poll, UV_READABLE, on_readable);
      if (rc == 0) return;
      status = rc;
    }
    uv_poll_stop(&h->poll);
    report_error(h, -status, "polling packet socket (no more frames will arrive; reopen the link)");
    return;
  }
  for (int n = 0; n < MAX_FRAMES_PER_WAKEUP && h->state == POLL_OPEN; n++) {
    struct sockaddr_ll from;
    // PACKET_AUXDATA tells whether the kernel filled in the transport checksum:
    // frames from a local veth/tap peer carry a partial one (checksum offload).
    union {
      struct cmsghdr align;
      char buffer[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
    } control;
    struct iovec iov = {.iov_base = h->buffer, .iov_len = RECV_BUFFER_SIZE};
    struct msghdr message = {
        .msg_name = &from,
        .msg_namelen = sizeof from,
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.buffer,
        .msg_controllen = sizeof control.buffer,
    };
    ssize_t length = recvmsg(h->fd, &message, MSG_TRUNC);
    if (length < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      // One-shot socket errors (e.g. ENETDOWN when the link drops); the socket
      // keeps working once the link is back.
      report_error(h, errno, "receiving");
      return;
    }
    // Belt and braces for kernels without PACKET_IGNORE_OUTGOING.
    if (from.sll_pkttype == PACKET_OUTGOING) continue;
    // Larger than any IPv4 datagram: only a GSO super-frame; not ours to parse.
    if ((size_t)length > RECV_BUFFER_SIZE) continue;

    napi_handle_scope scope;
    if (napi_open_handle_scope(h->env, &scope) != napi_ok) return;
    bool checksum_pending = false;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&message); cmsg != NULL; cmsg = CMSG_NXTHDR(&message, cmsg)) {
      if (cmsg->cmsg_level == SOL_PACKET && cmsg->cmsg_type == PACKET_AUXDATA &&
          cmsg->cmsg_len >= CMSG_LEN(sizeof(struct tpacket_auxdata))) {
        struct tpacket_auxdata aux;
        memcpy(&aux, CMSG_DATA(cmsg), sizeof aux);
        checksum_pending = (aux.tp_status & TP_STATUS_CSUMNOTREADY) != 0;
      }
    }
    napi_value args[2];
    bool delivered = false;
    if (napi_create_buffer_copy(h->env, (size_t)length, h->buffer, NULL, &args[0]) == napi_ok &&
        napi_get_boolean(h->env, checksum_pending, &args[1]) == napi_ok) {
      delivered = call_js_args(h, h->on_frame, 2, args);
    }
    napi_close_handle_scope(h->env, scope);
    if (!delivered) return; // the handler threw (now an uncaught exception) or N-API failed
  }
}

static packet_handle *unwrap_handle(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (self == NULL || napi_unwrap(env, self, &data) != napi_ok || data == NULL) {
    throw_type(env, "not a packet socket handle (call it as handle.method())");
    return NULL;
  }
  return data;
}

static napi_value handle_send(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  packet_handle *h = unwrap_handle(env, info, &argc, argv);
  if (h == NULL) return NULL;
  if (h->state != POLL_OPEN) {
    throw_value(env, make_error(env, "ERR_SOCKET_CLOSED", "packet socket on %s is closed", h->ifname));
    return NULL;
  }
  bool is_typed;
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (argc < 1 || napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_uint8_array) {
    throw_type(env, "frame must be a Buffer");
    return NULL;
  }
  if (length < ETH_HLEN) {
    throw_value(env, make_error(env, "EINVAL", "frame of %zu bytes is shorter than an Ethernet header", length));
    return NULL;
  }
  const unsigned char *bytes = data;
  struct sockaddr_ll to = {
      .sll_family = AF_PACKET,
      .sll_ifindex = h->ifindex,
      .sll_halen = ETH_ALEN,
  };
  memcpy(&to.sll_protocol, bytes + 12, 2); // already in network order
  memcpy(to.sll_addr, bytes, ETH_ALEN);
  ssize_t sent;
  do {
    sent = sendto(h->fd, data, length, 0, (struct sockaddr *)&to, sizeof to);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    char context[64];
    snprintf(context, sizeof context, "sending on %s", h->ifname);
    throw_errno(env, errno, context);
    return NULL;
  }
  return NULL;
}

static napi_value handle_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  packet_handle *h = unwrap_handle(env, info, &argc, NULL);
  if (h != NULL) packet_shutdown(h);
  return NULL;
}

// With several ethertypes the socket is bound to ETH_P_ALL; without a caller's
// filter it would see everything, so accept exactly the listed ethertypes.
static struct sock_filter *ethertype_filter(const uint16_t *types, uint32_t count, uint32_t *length) {
  struct sock_filter *program = calloc(count + 3, sizeof *program);
  if (program == NULL) return NULL;
  program[0] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12);
  for (uint32_t i = 0; i < count; i++) {
    program[1 + i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, types[i], (uint8_t)(count - i), 0);
  }
  program[count + 1] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
  program[count + 2] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffffffffu);
  *length = count + 3;
  return program;
}

// Closes fd and throws "<step> on <ifname>: <strerror(err)>"; returns -1 for the caller.
static int fail_socket(napi_env env, int fd, int err, const char *step, const char *ifname) {
  char context[128];
  close(fd);
  snprintf(context, sizeof context, "%s on %s", step, ifname);
  throw_errno(env, err, context);
  return -1;
}

// Creates, filters and binds the socket. Returns the fd, or -1 with an exception pending.
static int open_packet_socket(napi_env env, const char *ifname, int ifindex, const uint16_t *types, uint32_t type_count,
                              const struct sock_filter *program, uint32_t program_length) {
  // Protocol 0: the socket receives nothing until bind() names a protocol, so no
  // frame can be queued before the filter is attached.
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int err = errno;
    if (err == EPERM || err == EACCES) {
      throw_value(env, make_error(env, "EPERM", "opening a packet socket on %s needs CAP_NET_RAW: %s", ifname,
                                  CAP_HINT_RAW));
      return -1;
    }
    char context[96];
    snprintf(context, sizeof context, "opening a packet socket on %s", ifname);
    throw_errno(env, err, context);
    return -1;
  }

  // We never want to see our own transmissions (or the kernel's ARP replies from
  // this host): they would look like requests from a client. Kernels before 4.20
  // lack the option; on_readable drops PACKET_OUTGOING frames there instead.
  int one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0 && errno != ENOPROTOOPT) {
    return fail_socket(env, fd, errno, "setting PACKET_IGNORE_OUTGOING", ifname);
  }
  if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) < 0) {
    return fail_socket(env, fd, errno, "setting PACKET_AUXDATA", ifname);
  }

  struct sock_filter *generated = NULL;
  if (program == NULL && type_count > 1) {
    generated = ethertype_filter(types, type_count, &program_length);
    if (generated == NULL) return fail_socket(env, fd, ENOMEM, "building the ethertype filter", ifname);
    program = generated;
  }
  if (program != NULL) {
    struct sock_fprog fprog = {.len = (unsigned short)program_length, .filter = (struct sock_filter *)program};
    int rc = setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog);
    int err = errno;
    free(generated);
    if (rc < 0) {
      if (err == EINVAL) {
        close(fd);
        throw_value(env, make_error(env, "EINVAL", "the kernel rejected the BPF filter for %s (invalid program)", ifname));
        return -1;
      }
      return fail_socket(env, fd, err, "attaching the BPF filter", ifname);
    }
  }

  int size = WANTED_RCVBUF;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0) {
    // Not fatal: a smaller queue only matters in a storm.
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }

  struct sockaddr_ll address = {
      .sll_family = AF_PACKET,
      .sll_protocol = htons(type_count == 1 ? types[0] : ETH_P_ALL),
      .sll_ifindex = ifindex,
  };
  if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0) {
    int err = errno;
    if (err == ENODEV || err == ENXIO) {
      close(fd);
      throw_no_interface(env, ifname); // removed between lookup and bind
      return -1;
    }
    return fail_socket(env, fd, err, "binding a packet socket", ifname);
  }
  return fd;
}

static napi_value packet_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 5) {
    throw_type(env, "open(ifname, ethertypes, bpf, onFrame, onError) takes five arguments");
    return NULL;
  }

  char ifname[IF_NAMESIZE];
  if (!get_ifname(env, argv[0], ifname)) return NULL;

  bool is_array;
  uint32_t type_count;
  uint16_t types[MAX_ETHERTYPES];
  if (napi_is_array(env, argv[1], &is_array) != napi_ok) return NULL;
  if (!is_array || napi_get_array_length(env, argv[1], &type_count) != napi_ok || type_count == 0 ||
      type_count > MAX_ETHERTYPES) {
    throw_type(env, "ethertypes must be an array of 1 to 16 numbers");
    return NULL;
  }
  for (uint32_t i = 0; i < type_count; i++) {
    napi_value element;
    uint32_t type;
    if (napi_get_element(env, argv[1], i, &element) != napi_ok) return NULL;
    if (!get_uint(env, element, 0xffff, &type, "ethertype")) return NULL;
    types[i] = (uint16_t)type;
  }

  napi_valuetype bpf_type;
  struct sock_filter *program = NULL;
  uint32_t program_length = 0;
  if (napi_typeof(env, argv[2], &bpf_type) != napi_ok) return NULL;
  if (bpf_type != napi_null && bpf_type != napi_undefined && !get_bpf(env, argv[2], &program, &program_length)) {
    return NULL;
  }
  if (!get_function(env, argv[3], "onFrame") || !get_function(env, argv[4], "onError")) {
    free(program);
    return NULL;
  }

  int ifindex;
  int err = lookup_ifindex(ifname, &ifindex);
  if (err != 0) {
    free(program);
    throw_lookup_error(env, err, ifname, "looking up");
    return NULL;
  }

  int fd = open_packet_socket(env, ifname, ifindex, types, type_count, program, program_length);
  free(program);
  if (fd < 0) return NULL;

  packet_handle *h = calloc(1, sizeof *h);
  unsigned char *buffer = malloc(RECV_BUFFER_SIZE);
  if (h == NULL || buffer == NULL) {
    free(h);
    free(buffer);
    close(fd);
    throw_errno(env, ENOMEM, "allocating a packet handle");
    return NULL;
  }
  h->env = env;
  h->fd = fd;
  h->ifindex = ifindex;
  h->buffer = buffer;
  h->state = POLL_NONE;
  snprintf(h->ifname, sizeof h->ifname, "%s", ifname);

  napi_value object, resource_name;
  if (napi_create_object(env, &object) != napi_ok || napi_wrap(env, object, h, packet_finalize, NULL, NULL) != napi_ok) {
    close(fd);
    packet_free(h);
    return NULL;
  }
  // From here the wrapper owns h: failures close the fd and leave freeing to the finalizer.
  napi_property_descriptor methods[] = {
      {"send", NULL, handle_send, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, handle_close, NULL, NULL, NULL, napi_default, NULL},
  };
  uv_loop_t *loop;
  int rc;
  if (napi_define_properties(env, object, 2, methods) != napi_ok ||
      napi_create_reference(env, argv[3], 1, &h->on_frame) != napi_ok ||
      napi_create_reference(env, argv[4], 1, &h->on_error) != napi_ok ||
      napi_create_string_utf8(env, "rackboot.PacketSocket", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_async_init(env, object, resource_name, &h->async_context) != napi_ok ||
      napi_create_reference(env, object, 1, &h->self) != napi_ok ||
      napi_get_uv_event_loop(env, &loop) != napi_ok) {
    goto fail;
  }
  rc = uv_poll_init(loop, &h->poll, fd);
  if (rc != 0) {
    close(fd);
    h->fd = -1;
    release_js_state(h);
    throw_errno(env, -rc, "watching the packet socket");
    return NULL;
  }
  h->poll.data = h;
  h->state = POLL_OPEN;
  rc = uv_poll_start(&h->poll, UV_READABLE, on_readable);
  if (rc != 0) {
    packet_shutdown(h); // on_poll_closed releases the JS state
    throw_errno(env, -rc, "watching the packet socket");
    return NULL;
  }
  if (napi_add_env_cleanup_hook(env, env_cleanup, h) == napi_ok) h->cleanup_hook = true;
  return object;

fail:
  close(fd);
  h->fd = -1;
  release_js_state(h);
  return NULL; // an N-API call failed, so an exception is pending
}

// ---------------------------------------------------------------------------
// interfaceInfo

static napi_value set_property(napi_env env, napi_value object, const char *key, napi_value value) {
  return value != NULL && napi_set_named_property(env, object, key, value) == napi_ok ? object : NULL;
}

static napi_value js_uint(napi_env env, uint32_t value) {
  napi_value out;
  return napi_create_uint32(env, value, &out) == napi_ok ? out : NULL;
}

static napi_value js_bool(napi_env env, bool value) {
  napi_value out;
  return napi_get_boolean(env, value, &out) == napi_ok ? out : NULL;
}

static napi_value js_string(napi_env env, const char *value) {
  napi_value out;
  return napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &out) == napi_ok ? out : NULL;
}

// getifaddrs names secondary IPv4 addresses by label ("eth0:1"); they belong to eth0.
static bool address_belongs_to(const char *name, const char *ifname) {
  size_t length = strlen(ifname);
  return strncmp(name, ifname, length) == 0 && (name[length] == '\0' || name[length] == ':');
}

static napi_value ipv4_addresses(napi_env env, const char *ifname) {
  struct ifaddrs *list;
  if (getifaddrs(&list) < 0) {
    throw_errno(env, errno, "listing interface addresses");
    return NULL;
  }
  napi_value array;
  uint32_t count = 0;
  bool ok = napi_create_array(env, &array) == napi_ok;
  for (struct ifaddrs *ifa = list; ok && ifa != NULL; ifa = ifa->ifa_next) {
    if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != AF_INET || !address_belongs_to(ifa->ifa_name, ifname)) {
      continue;
    }
    char text[INET_ADDRSTRLEN];
    const struct sockaddr_in *address = (const struct sockaddr_in *)ifa->ifa_addr;
    uint32_t prefix = 0;
    if (ifa->ifa_netmask != NULL) {
      for (uint32_t mask = ntohl(((const struct sockaddr_in *)ifa->ifa_netmask)->sin_addr.s_addr); mask != 0; mask <<= 1) {
        prefix++;
      }
    }
    napi_value entry;
    ok = inet_ntop(AF_INET, &address->sin_addr, text, sizeof text) != NULL && napi_create_object(env, &entry) == napi_ok &&
         set_property(env, entry, "address", js_string(env, text)) != NULL &&
         set_property(env, entry, "prefix", js_uint(env, prefix)) != NULL &&
         napi_set_element(env, array, count++, entry) == napi_ok;
  }
  freeifaddrs(list);
  return ok ? array : NULL;
}

static napi_value interface_info(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char ifname[IF_NAMESIZE];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1) {
    throw_type(env, "interfaceInfo(ifname) needs an interface name");
    return NULL;
  }
  if (!get_ifname(env, argv[0], ifname)) return NULL;

  int fd = control_socket();
  if (fd < 0) {
    throw_errno(env, errno, "opening a control socket");
    return NULL;
  }
  struct ifreq index_req, hw_req, mtu_req, flags_req;
  int err = interface_ioctl(fd, SIOCGIFINDEX, ifname, &index_req);
  if (err == 0) err = interface_ioctl(fd, SIOCGIFHWADDR, ifname, &hw_req);
  if (err == 0) err = interface_ioctl(fd, SIOCGIFMTU, ifname, &mtu_req);
  if (err == 0) err = interface_ioctl(fd, SIOCGIFFLAGS, ifname, &flags_req);
  close(fd);
  if (err != 0) {
    throw_lookup_error(env, err, ifname, "reading interface");
    return NULL;
  }

  const unsigned char *hw = (const unsigned char *)hw_req.ifr_hwaddr.sa_data;
  char mac[18];
  snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", hw[0], hw[1], hw[2], hw[3], hw[4], hw[5]);
  unsigned flags = (unsigned short)flags_req.ifr_flags;

  napi_value result;
  if (napi_create_object(env, &result) != napi_ok) return NULL;
  if (set_property(env, result, "name", js_string(env, ifname)) == NULL ||
      set_property(env, result, "index", js_uint(env, (uint32_t)index_req.ifr_ifindex)) == NULL ||
      set_property(env, result, "mac", js_string(env, mac)) == NULL ||
      set_property(env, result, "mtu", js_uint(env, (uint32_t)mtu_req.ifr_mtu)) == NULL ||
      set_property(env, result, "up", js_bool(env, (flags & IFF_UP) != 0)) == NULL ||
      set_property(env, result, "running", js_bool(env, (flags & IFF_RUNNING) != 0)) == NULL) {
    return NULL;
  }
  napi_value addresses = ipv4_addresses(env, ifname);
  return set_property(env, result, "ipv4", addresses);
}

// ---------------------------------------------------------------------------
// setNeighbor: RTM_NEWNEIGH over rtnetlink, waiting for the kernel's ACK.

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "52:54:00:ab:cd:ef" or "52-54-00-AB-CD-EF", one separator throughout.
static bool parse_mac(const char *text, unsigned char mac[ETH_ALEN]) {
  if (strlen(text) != 17) return false;
  char separator = text[2];
  if (separator != ':' && separator != '-') return false;
  for (int i = 0; i < ETH_ALEN; i++) {
    const char *pair = text + i * 3;
    int high = hex_digit(pair[0]), low = hex_digit(pair[1]);
    if (high < 0 || low < 0 || (i < ETH_ALEN - 1 && pair[2] != separator)) return false;
    mac[i] = (unsigned char)(high << 4 | low);
  }
  return true;
}

static void add_attribute(struct nlmsghdr *message, size_t capacity, unsigned short type, const void *data,
                          size_t length) {
  struct rtattr *attribute = (struct rtattr *)((char *)message + NLMSG_ALIGN(message->nlmsg_len));
  size_t total = NLMSG_ALIGN(message->nlmsg_len) + RTA_SPACE(length);
  if (total > capacity) return; // sized at compile time below; cannot happen
  attribute->rta_type = type;
  attribute->rta_len = (unsigned short)RTA_LENGTH(length);
  memcpy(RTA_DATA(attribute), data, length);
  message->nlmsg_len = (uint32_t)total;
}

// The kernel's extended-ACK text ("Invalid lladdr" ...), if it sent one.
static const char *ack_message(const struct nlmsghdr *reply) {
  if (!(reply->nlmsg_flags & NLM_F_ACK_TLVS)) return NULL;
  // The TLVs follow the nlmsgerr, and the echoed request unless NETLINK_CAP_ACK took.
  size_t offset = NLMSG_HDRLEN + sizeof(struct nlmsgerr);
  if (!(reply->nlmsg_flags & NLM_F_CAPPED)) {
    const struct nlmsgerr *err = NLMSG_DATA(reply);
    offset = NLMSG_ALIGN(offset + err->msg.nlmsg_len - sizeof(struct nlmsghdr));
  }
  while (offset + sizeof(struct rtattr) <= reply->nlmsg_len) {
    const struct rtattr *attribute = (const struct rtattr *)((const char *)reply + offset);
    if (attribute->rta_len < sizeof(struct rtattr) || offset + attribute->rta_len > reply->nlmsg_len) break;
    if (attribute->rta_type == NLMSGERR_ATTR_MSG) {
      const char *text = RTA_DATA(attribute);
      size_t length = RTA_PAYLOAD(attribute);
      return length > 0 && text[length - 1] == '\0' ? text : NULL;
    }
    offset += RTA_ALIGN(attribute->rta_len);
  }
  return NULL;
}

static napi_value set_neighbor(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  char ifname[IF_NAMESIZE], ip_text[64], mac_text[32];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 3) {
    throw_type(env, "setNeighbor(ifname, ip, mac) takes three arguments");
    return NULL;
  }
  if (!get_ifname(env, argv[0], ifname) || !get_string(env, argv[1], ip_text, sizeof ip_text, "ip") ||
      !get_string(env, argv[2], mac_text, sizeof mac_text, "mac")) {
    return NULL;
  }
  struct in_addr ip;
  unsigned char mac[ETH_ALEN];
  if (inet_pton(AF_INET, ip_text, &ip) != 1) {
    throw_value(env, make_error(env, "EINVAL", "not an IPv4 address: %s", ip_text));
    return NULL;
  }
  if (!parse_mac(mac_text, mac)) {
    throw_value(env, make_error(env, "EINVAL", "not a MAC address: %s", mac_text));
    return NULL;
  }
  int ifindex;
  int err = lookup_ifindex(ifname, &ifindex);
  if (err != 0) {
    throw_lookup_error(env, err, ifname, "looking up");
    return NULL;
  }

  char context[128];
  snprintf(context, sizeof context, "setting neighbour %s on %s", ip_text, ifname);
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    throw_errno(env, errno, context);
    return NULL;
  }
  // The kernel answers within sendto(); the timeout only guards against a kernel
  // that never replies, so the event loop cannot hang here.
  struct timeval timeout = {.tv_sec = 1};
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) < 0) {
    err = errno;
    close(fd);
    throw_errno(env, err, context);
    return NULL;
  }
  // Optional niceties: readable kernel error text, and no echo of our request.
  (void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  (void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);

  union {
    struct nlmsghdr header;
    char bytes[NLMSG_SPACE(sizeof(struct ndmsg)) + RTA_SPACE(4) + RTA_SPACE(ETH_ALEN)];
  } request;
  memset(&request, 0, sizeof request);
  static uint32_t sequence;
  uint32_t seq = ++sequence;
  request.header.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg));
  request.header.nlmsg_type = RTM_NEWNEIGH;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
  request.header.nlmsg_seq = seq;
  struct ndmsg *ndm = NLMSG_DATA(&request.header);
  ndm->ndm_family = AF_INET;
  ndm->ndm_ifindex = ifindex;
  // REACHABLE, not PERMANENT: the entry ages to STALE and the kernel's normal
  // unicast probing takes over, so a node that later changes NIC is not stuck.
  ndm->ndm_state = NUD_REACHABLE;
  add_attribute(&request.header, sizeof request, NDA_DST, &ip, sizeof ip);
  add_attribute(&request.header, sizeof request, NDA_LLADDR, mac, ETH_ALEN);

  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  ssize_t sent;
  do {
    sent = sendto(fd, &request, request.header.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    err = errno;
    close(fd);
    throw_errno(env, err, context);
    return NULL;
  }

  // Wait for the NLMSG_ERROR carrying our sequence number (error 0 is the ACK).
  union {
    struct nlmsghdr header;
    char bytes[8192];
  } reply;
  for (;;) {
    ssize_t length = recv(fd, &reply, sizeof reply, 0);
    if (length < 0) {
      err = errno;
      if (err == EINTR) continue;
      close(fd);
      throw_errno(env, err == EAGAIN || err == EWOULDBLOCK ? ETIMEDOUT : err, context);
      return NULL;
    }
    size_t remaining = (size_t)length;
    for (struct nlmsghdr *message = &reply.header; NLMSG_OK(message, remaining);
         message = NLMSG_NEXT(message, remaining)) {
      if (message->nlmsg_seq != seq || message->nlmsg_type != NLMSG_ERROR) continue;
      if (message->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) continue;
      const struct nlmsgerr *ack = NLMSG_DATA(message);
      err = -ack->error;
      const char *detail = err != 0 ? ack_message(message) : NULL;
      char detail_copy[160] = "";
      if (detail != NULL) snprintf(detail_copy, sizeof detail_copy, " (%s)", detail);
      close(fd);
      if (err == 0) return NULL;
      if (err == EPERM || err == EACCES) {
        throw_value(env, make_error(env, "EPERM", "%s needs CAP_NET_ADMIN: %s", context, CAP_HINT_ADMIN));
      } else {
        throw_value(env, make_error(env, errno_name(err), "%s: %s%s", context, strerror(err), detail_copy));
      }
      return NULL;
    }
  }
}

// ---------------------------------------------------------------------------
// sd_notify(3) without libsystemd: Node has no AF_UNIX datagram sockets, and the
// protocol is one datagram of newline-separated assignments to $NOTIFY_SOCKET
// (a path, or an abstract name written with a leading '@').

static napi_value notify_systemd(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  char path[sizeof address.sun_path + 1];
  char message[4096];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) {
    throw_type(env, "notifySystemd(socketPath, message) needs two strings");
    return NULL;
  }
  if (!get_string(env, argv[0], path, sizeof path, "socketPath")) return NULL;
  if (!get_string(env, argv[1], message, sizeof message, "message")) return NULL;

  size_t length = strlen(path);
  if (length > sizeof address.sun_path) {
    throw_type(env, "socketPath is longer than a unix socket address");
    return NULL;
  }
  memcpy(address.sun_path, path, length);
  if (path[0] == '@') address.sun_path[0] = '\0';
  socklen_t address_length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length);

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, errno, "notify socket");
    return NULL;
  }
  ssize_t sent;
  do {
    sent = sendto(fd, message, strlen(message), MSG_NOSIGNAL, (struct sockaddr *)&address, address_length);
  } while (sent < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (sent < 0) throw_errno(env, err, path);
  return NULL;
}

// ---------------------------------------------------------------------------

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor functions[] = {
      {"open", NULL, packet_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"interfaceInfo", NULL, interface_info, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setNeighbor", NULL, set_neighbor, NULL, NULL, NULL, napi_enumerable, NULL},
      {"notifySystemd", NULL, notify_systemd, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions) != napi_ok) return NULL;
  return exports;
}
