// The flood of `npm run bench -- --flood` (load-tests/run-flood.ts): unauthenticated INVITEs over UDP from many
// source addresses at a set rate, each with its own Call-ID and branch, from one process (Node's dgram tops out far
// below what the edge can be offered). Usage: flood-sender PORT FIRST_ADDR COUNT RATE SECONDS (FIRST_ADDR a.b.c.d; the
// COUNT addresses follow it in the last octet). Prints the datagrams it sent.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: flood-sender PORT FIRST_ADDR COUNT RATE SECONDS\n");
    return 2;
  }
  int port = atoi(argv[1]), count = atoi(argv[3]);
  double rate = atof(argv[4]), seconds = atof(argv[5]);
  struct in_addr first;
  if (inet_pton(AF_INET, argv[2], &first) != 1 || count < 1 || count > 250 || rate <= 0) return 2;
  int *fds = calloc(count, sizeof(int));
  char (*names)[16] = calloc(count, 16);
  for (int i = 0; i < count; i++) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(ntohl(first.s_addr) + i);
    inet_ntop(AF_INET, &a.sin_addr, names[i], 16);
    fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
    if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof a) != 0) {
      perror("bind");
      return 1;
    }
  }
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  char msg[1024];
  long sent = 0;
  double start = now_s(), end = start + seconds;
  for (long n = 0;; n++) {
    double t = now_s();
    if (t >= end) break;
    // Paced: message n is due at start + n / rate.
    double due = start + n / rate;
    if (due > t) usleep((useconds_t)((due - t) * 1e6));
    int i = n % count;
    int len = snprintf(msg, sizeof msg,
                       "INVITE sip:1000@bench.example.com SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP %s:5060;branch=z9hG4bKfl%ld\r\n"
                       "Max-Forwards: 70\r\nFrom: <sip:%ld@bench.example.com>;tag=f%ld\r\n"
                       "To: <sip:1000@bench.example.com>\r\nCall-ID: flood-%ld@%s\r\nCSeq: 1 INVITE\r\n"
                       "Contact: <sip:x@%s:5060>\r\nContent-Length: 0\r\n\r\n",
                       names[i], n, 1000 + n % 200, n, n, names[i], names[i]);
    if (sendto(fds[i], msg, len, 0, (struct sockaddr *)&to, sizeof to) == len) sent++;
  }
  printf("%ld\n", sent);
  return 0;
}
